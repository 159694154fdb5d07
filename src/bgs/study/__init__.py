"""The orchestration floor: each study is a thin pipeline over library calls, and every
pipeline fine-tunes through :func:`bgs.study.finetune.finetune` and records through
:class:`bgs.study.run.StudyRun` (docs/architecture.md).

* :mod:`bgs.study.demo` — ``bgs demo``, the whole study on fresh synthetic data;
* :mod:`bgs.study.garcia2025` — ``bgs study garcia2025`` on the public human data;
* :mod:`bgs.study.behavior` — ``bgs behavior experiment``, receiver behavior vs BGS;
* :mod:`bgs.study.attention` — ``bgs attention``, where models look before and after;
* :mod:`bgs.study.transfer` — the style-transfer benchmark (``benchmarks/transfer.py``).

No library package imports this floor; only the commands do.
"""
