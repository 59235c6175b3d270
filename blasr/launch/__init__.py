"""Launchers with Kaldi's interface, ``CMD [options] JOB=1:N LOGFILE command ...``: ``blasr-run`` (this
machine, as ``run.pl``) and ``blasr-slurm`` (a Slurm job array). Programs, like ``blasr/*.py``; the work is
:mod:`blasr.utils.launch` and :mod:`blasr.utils.slurm`."""
