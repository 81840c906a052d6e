// protocol_runner.cpp - feeds a scripted byte stream to the serial protocol
// (lib/tinygmm with its tinygmm_device.h, the exported model) and prints the
// replies, on a bare-metal ATmega328P under simavr (USART0, avr-libc only) or
// on the host (stdout). test/python/test_avr_sim.py builds both from the same
// script and compares them line by line: the protocol behaves the same on AVR.
//
// The script comes from protocol_script.h, written by the test:
//   static const char SCRIPT[] RUNNER_FLASH = "...";   // any bytes, NULs included
// It is fed in chunks of 1..7 bytes (feed(char) and feed(data, len)), then
//   END replies=<n>
// is printed.
#include "avr_uart.h"
#include "tinygmm_device.h"
#include "tinygmm_protocol.h"

#include "protocol_script.h"

static void write_reply(void*, const char* data, size_t len) { uart_write(data, len); }

int main() {
  uart_init();
  tinygmm_device::Protocol protocol(tinygmm_device::MODEL, write_reply, 0);
  protocol.begin();
  const size_t n = sizeof SCRIPT - 1;  // without the literal's own NUL
  size_t i = 0;
  uint8_t chunk = 1;
  char buf[8];
  while (i < n) {
    if (chunk == 1) {
      protocol.feed(RUNNER_BYTE(SCRIPT + i));
      ++i;
    } else {
      size_t m = 0;
      while (m < chunk && i < n) buf[m++] = RUNNER_BYTE(SCRIPT + i++);
      protocol.feed(buf, m);
    }
    chunk = static_cast<uint8_t>(chunk % 7 + 1);
  }
  uart_puts_flash(RUNNER_STR("END replies="));
  uart_putu(protocol.replies());
  uart_putc('\n');
  halt();
  return 0;
}
