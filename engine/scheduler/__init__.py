"""The pure core of the scheduler: plain data in, decisions out; no I/O, no clock, no engine.

    state        what should run, what runs, agents (frozen dataclasses)
    placement    which agent and which host ports for each task to launch (filters, then scores)
    reconcile    desired apps + observed containers + agent state + now -> Plan of actions, each with a reason
    deployments  a deployment's steps and how far it got
    task_table   the engine's task records, indexed by app and by agent
    autoscale    the autoscaling decision from samples

It imports nothing from the rest of the engine but `engine.model` and `engine.errors`
(tests/unit/test_import_hygiene.py proves it).
"""
