"""Talking to a device: ``client`` (protocols v1 and v2 over pyserial), ``native`` (the native firmware on a pty)
and ``uno_sim`` (an Uno firmware on simavr, bridged by ``simavr_uart.c``)."""
