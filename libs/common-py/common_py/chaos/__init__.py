"""Fault injection against the real system (issue 16): `scripts/chaos.py` and `tests/chaos/`.

A stack of its own (RabbitMQ node, embedded Postgres, the ten services under supervisord, all
under one folder and on ports nobody else uses) runs jobs on the demo dataset while an
experiment breaks something: kill -9 of a service while its stage is busy, every event published
twice, a broker or database restart, bad input, many jobs at once, a full disk. Each job is
then checked against the truth: phase, the matches of an undisturbed run, no duplicate rows,
exactly one `.completed` per stage, dead letters only where the experiment put bad messages.

  infra.py        the RabbitMQ node and Postgres of the run, which experiments may restart
  stack.py        the services under supervisord, the dataset, HTTP and the management API
  tap.py          a consumer that records every event, and one that publishes each a second time
  truth.py        what a finished job is checked against
  experiments.py  the experiments, each returning one row of the report
  report.py       the table and the summary line
"""
