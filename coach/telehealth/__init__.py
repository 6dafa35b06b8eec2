"""Telehealth: a therapist watches and coaches live sessions, on any of several app servers.

A staircase of small modules, each with one job:

- `state`: `LiveState`, what the monitor shows of one session (a flat, versioned record
  that crosses servers as JSON), and `connection_of` (live, a gap, ended) from its age;
- `steps`: `StepIn`, what a therapist sends into a running session (a message, or a new
  dose), validated at creation, and its JSON;
- `publisher`: `MonitorPublisher`, a session-event subscriber that turns a session's
  `Progress` events into `LiveState`s and hands the newest to the bus on its own thread
  (the camera path never waits, stale states are dropped);
- `bus`: the `LiveBus` the services use, and `MemoryLiveBus` for one app server;
- `postgres`: `PostgresLiveBus`, for several app servers on one PostgreSQL: a table of
  latest states that a monitor reads when it connects, and LISTEN/NOTIFY for what
  changes after that (states to the monitors, step-ins to the patient's server).

Pure Python except `postgres` (psycopg). Who may see or change what is checked by
`coach.services.monitor`, never here.
"""
