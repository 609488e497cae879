"""Helpers shared by the tests: fakes, real peers (Modbus server, serial lines, Mosquitto) and
builders. Nothing here is collected as a test."""
