"""Modbus TCP / RTU / ASCII driver.

One module per job: ``config`` (typed settings), ``codec`` (registers to values), ``plan``
(fields to requests), ``transport`` (pymodbus clients, one shared client and lock per serial
port) and ``driver`` (the polled driver that ties them together).
"""
