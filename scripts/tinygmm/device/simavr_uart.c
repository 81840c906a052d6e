/* simavr_uart.c - an ATmega328P firmware on simavr, its UART0 on stdin/stdout.
 *
 * Used by `tinygmm ... --port simavr[:firmware.elf]`: tinygmm starts this
 * program on the master side of a pty, so the simulated board looks like a
 * serial port (the pty's slave) to the host, as an Arduino Uno on USB does.
 *
 *   simavr_uart firmware.elf [-m mcu] [-f hz] [--fast] [--eeprom FILE]
 *
 * --eeprom FILE: the EEPROM's bytes are read from FILE when it exists (a board that
 * was powered before) and written to it when the program ends (atomically: FILE.tmp,
 * then a rename), so a firmware's saved state survives a "power cycle".
 *
 * Timing follows the wire, in simulated time:
 * - Bytes from the host enter the UART (UART_IRQ_INPUT) one per frame time of
 *   the baud rate the firmware configured (10 bits at 117647 baud for
 *   Serial.begin(115200) on a 16 MHz Uno: 1360 cycles), whatever the host's
 *   burst, as bytes on a real RX line. simavr counts a parity bit even with
 *   parity off (11 bits a byte); the frame time is corrected to what the UART
 *   registers say, in both directions.
 * - The AVR's own UART holds 2 received bytes; a byte that arrives while 2 are
 *   still unread is lost, as on the chip (counted as uart_overruns). The
 *   firmware's own buffers (HardwareSerial's 64-byte ring) overflow exactly as
 *   they would on the board, since nothing here waits for the firmware.
 * - simavr's XOFF (its input FIFO full) holds input back; XON lets it go.
 * - Bytes the firmware sends (UART_IRQ_OUTPUT, raised when it writes UDR0) are
 *   passed to the host at the next frame boundary.
 * - Simulated time is kept in step with wall time (never more than 1 ms
 *   ahead), so the host sees a board that runs at 16 MHz; --fast runs free.
 *
 * One stats line on stderr when ready; SIGUSR1 prints another; SIGTERM, SIGINT and end of input
 * print it and exit:
 *   simavr_uart: cycles=C sim_s=S wall_s=W rx=BYTES tx=BYTES frame_cycles=F
 *   uart_overruns=N xoff=N lost_before_rx_enabled=N out_dropped=N behind_ms_max=M
 *   turnarounds=N turnaround_us_mean=T turnaround_us_max=T
 * (turnaround: from a request's newline entering the UART to its reply's first
 * byte leaving it, paired in order, so under pipelining it includes the wait
 * behind earlier replies in the TX buffer)
 * Build: cc -O2 simavr_uart.c -lsimavr -lelf (Debian: libsimavr-dev libelf-dev).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_eeprom.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_io.h>

#define IN_CAP 65536
#define OUT_CAP 65536
#define AHEAD_MAX 0.001 /* seconds the simulation may run ahead of the wall clock */

static volatile sig_atomic_t stop_flag, stats_flag;
static avr_t* avr;
static avr_uart_t* uart;
static int xoff;
static int input_closed;
static unsigned char in_buf[IN_CAP], out_buf[OUT_CAP];
static size_t in_head, in_len, out_len;
static avr_cycle_count_t frame_cycles = 1600;
static unsigned long long rx_bytes, tx_bytes, overruns, xoffs, lost_early, out_dropped;
static double wall0, behind_max;
/* turnaround: from a request's newline entering the UART to the reply's first byte leaving it */
static avr_cycle_count_t nl_at[64];
static unsigned nl_head, nl_len, out_line_started, line_bytes;
static unsigned long long turns, turn_sum, turn_max;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void on_signal(int sig) {
  if (sig == SIGUSR1)
    stats_flag = 1;
  else
    stop_flag = 1;
}

static void print_stats(void) {
  fprintf(stderr,
          "simavr_uart: cycles=%llu sim_s=%.6f wall_s=%.6f rx=%llu tx=%llu frame_cycles=%llu uart_overruns=%llu "
          "xoff=%llu lost_before_rx_enabled=%llu out_dropped=%llu behind_ms_max=%.3f turnarounds=%llu "
          "turnaround_us_mean=%.1f turnaround_us_max=%.1f\n",
          (unsigned long long)avr->cycle, (double)avr->cycle / avr->frequency, now_s() - wall0, rx_bytes, tx_bytes,
          (unsigned long long)frame_cycles, overruns, xoffs, lost_early, out_dropped, 1e3 * behind_max, turns,
          turns ? 1e6 * (double)turn_sum / turns / avr->frequency : 0.0, 1e6 * (double)turn_max / avr->frequency);
  fflush(stderr);
}

static int bit_of(avr_regbit_t rb) { return avr_regbit_get(avr, rb) != 0; }

/* The frame time the UART registers describe: (UBRR+1)*16 cycles a bit (8 with
 * U2X), start + data + parity (UPM0 bits 5:4 of UCSR0C) + stop bits. */
static avr_cycle_count_t configured_frame(void) {
  static const int databits[8] = {5, 6, 7, 8, 8, 8, 8, 9};
  unsigned ubrr = (unsigned)avr_regbit_get(avr, uart->ubrrl) | ((unsigned)avr_regbit_get(avr, uart->ubrrh) << 8);
  int db = databits[avr_regbit_get(avr, uart->ucsz) | (avr_regbit_get(avr, uart->ucsz2) << 2)];
  int parity = (avr->data[uart->r_ucsrc] & 0x30) != 0;
  int bits = 1 + db + parity + 1 + bit_of(uart->usbs);
  avr_cycle_count_t per_bit = (avr_cycle_count_t)(ubrr + 1) * (bit_of(uart->u2x) ? 8 : 16);
  return per_bit * (avr_cycle_count_t)bits;
}

static void on_output(struct avr_irq_t* irq, uint32_t value, void* param) {
  (void)irq;
  (void)param;
  tx_bytes++;
  if (!out_line_started && nl_len) {
    avr_cycle_count_t d = avr->cycle - nl_at[nl_head];
    nl_head = (nl_head + 1) % 64;
    nl_len--;
    turns++;
    turn_sum += d;
    if (d > turn_max) turn_max = d;
  }
  out_line_started = value != '\n';
  if (out_len < OUT_CAP)
    out_buf[out_len++] = (unsigned char)value;
  else
    out_dropped++; /* the host stopped reading for 64 KB: a real board would not wait either */
}

static void on_xon(struct avr_irq_t* irq, uint32_t value, void* param) {
  (void)irq;
  (void)param;
  if (value) xoff = 0;
}

static void on_xoff(struct avr_irq_t* irq, uint32_t value, void* param) {
  (void)irq;
  (void)param;
  if (value && !xoff) xoffs++;
  xoff = value != 0;
}

static void flush_output(void) {
  size_t done = 0;
  while (done < out_len) {
    ssize_t n = write(1, out_buf + done, out_len - done);
    if (n <= 0) break; /* EAGAIN: the pty is full; keep the rest for the next frame */
    done += (size_t)n;
  }
  memmove(out_buf, out_buf + done, out_len - done);
  out_len -= done;
}

static void read_input(void) {
  while (!input_closed && in_len < IN_CAP) {
    size_t tail = (in_head + in_len) % IN_CAP;
    size_t room = tail >= in_head ? IN_CAP - tail : in_head - tail;
    if (room > IN_CAP - in_len) room = IN_CAP - in_len;
    ssize_t n = read(0, in_buf + tail, room);
    if (n > 0) {
      in_len += (size_t)n;
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) input_closed = 1; /* EOF / EIO */
    break;
  }
}

/* One frame time of the line: pass output on, take input, deliver one byte. */
static avr_cycle_count_t on_frame(struct avr_t* a, avr_cycle_count_t when, void* param) {
  (void)a;
  (void)param;
  avr_cycle_count_t f = configured_frame();
  if (avr_regbit_get(avr, uart->txen) || avr_regbit_get(avr, uart->rxen)) {
    frame_cycles = f;
    uart->cycles_per_byte = f; /* simavr's TX/RX pumps: 11 bits a byte otherwise */
  }
  flush_output();
  read_input();
  if (in_len && !xoff) {
    unsigned char b = in_buf[in_head];
    in_head = (in_head + 1) % IN_CAP;
    in_len--;
    if (!avr_regbit_get(avr, uart->rxen)) {
      lost_early++; /* the firmware has not started its UART yet: the byte is gone, as on a board */
    } else {
      unsigned unread = (unsigned)((uart->input.write + uart_fifo_fifo_size - uart->input.read) & (uart_fifo_fifo_size - 1));
      if (unread >= 2) {
        overruns++; /* the chip's receive buffer holds 2 bytes: data overrun */
      } else {
        rx_bytes++;
        if ((b == '\n' || b == '\r') && line_bytes && nl_len < 64) nl_at[(nl_head + nl_len++) % 64] = avr->cycle;
        line_bytes = (b == '\n' || b == '\r') ? 0 : line_bytes + 1; /* empty lines get no reply */
        avr_raise_irq(uart->io.irq + UART_IRQ_INPUT, b);
      }
    }
  }
  return when + frame_cycles;
}

#define EEPROM_MAX 65536
/* the EEPROM from a file (when it exists; shorter files fill the first bytes) */
static int eeprom_load(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return errno == ENOENT;
  static uint8_t bytes[EEPROM_MAX];
  const size_t n = fread(bytes, 1, sizeof bytes, f);
  fclose(f);
  if (n > (size_t)avr->e2end + 1) {
    fprintf(stderr, "simavr_uart: %s does not fit the EEPROM (%u bytes)\n", path, (unsigned)avr->e2end + 1);
    return 0;
  }
  avr_eeprom_desc_t d = {bytes, 0, (uint32_t)n};
  if (n) avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &d); /* (simavr's eeprom ioctls return -1 even when done) */
  return 1;
}

/* the whole EEPROM to a file, through FILE.tmp and a rename */
static int eeprom_save(const char* path) {
  const uint32_t size = avr->e2end + 1;
  avr_eeprom_desc_t d = {NULL, 0, size}; /* ee NULL: simavr points it at the EEPROM's bytes */
  avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &d);
  if (!d.ee) {
    fprintf(stderr, "simavr_uart: this MCU has no EEPROM to write to %s\n", path);
    return 0;
  }
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return 0;
  FILE* f = fopen(tmp, "wb");
  if (!f) return 0;
  const int ok = fwrite(d.ee, 1, size, f) == size;
  if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
    fprintf(stderr, "simavr_uart: cannot write the EEPROM to %s\n", path);
    return 0;
  }
  return 1;
}

static avr_uart_t* find_uart0(void) {
  for (avr_io_t* io = avr->io_port; io; io = io->next)
    if (io->kind && strcmp(io->kind, "uart") == 0 && ((avr_uart_t*)io)->name == '0') return (avr_uart_t*)io;
  return NULL;
}

int main(int argc, char** argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  const char* elf = NULL;
  const char* mcu = NULL;
  unsigned long hz = 0;
  int fast = 0;
  const char* eeprom_file = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
      mcu = argv[++i];
    else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
      hz = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--fast") == 0)
      fast = 1;
    else if (strcmp(argv[i], "--eeprom") == 0 && i + 1 < argc)
      eeprom_file = argv[++i];
    else if (argv[i][0] != '-' && !elf)
      elf = argv[i];
    else {
      fprintf(stderr, "usage: %s firmware.elf [-m mcu (atmega328p)] [-f hz (16000000)] [--fast] [--eeprom FILE]\n",
              argv[0]);
      return 2;
    }
  }
  if (!elf) {
    fprintf(stderr, "usage: %s firmware.elf [-m mcu (atmega328p)] [-f hz (16000000)] [--fast] [--eeprom FILE]\n", argv[0]);
    return 2;
  }
  static elf_firmware_t fw;
  if (elf_read_firmware(elf, &fw) != 0) {
    fprintf(stderr, "simavr_uart: cannot read firmware %s\n", elf);
    return 2;
  }
  if (!mcu) mcu = fw.mmcu[0] ? fw.mmcu : "atmega328p";
  avr = avr_make_mcu_by_name(mcu);
  if (!avr) {
    fprintf(stderr, "simavr_uart: simavr does not know the MCU %s\n", mcu);
    return 2;
  }
  avr_init(avr);
  avr->frequency = hz ? hz : (fw.frequency ? fw.frequency : 16000000);
  avr->log = 0;
  avr_load_firmware(avr, &fw);
  if (eeprom_file && !eeprom_load(eeprom_file)) return 2;
  uart = find_uart0();
  if (!uart) {
    fprintf(stderr, "simavr_uart: %s has no UART0\n", mcu);
    return 2;
  }
  uint32_t flags = 0;
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP); /* no console echo, no usleep */
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_irq_register_notify(uart->io.irq + UART_IRQ_OUTPUT, on_output, NULL);
  avr_irq_register_notify(uart->io.irq + UART_IRQ_OUT_XON, on_xon, NULL);
  avr_irq_register_notify(uart->io.irq + UART_IRQ_OUT_XOFF, on_xoff, NULL);
  avr_cycle_timer_register(avr, frame_cycles, on_frame, NULL);

  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);

  wall0 = now_s();
  print_stats(); /* ready */
  int rc = 0;
  while (!stop_flag && !input_closed) {
    for (int i = 0; i < 2000; i++) {
      int state = avr_run(avr);
      if (state == cpu_Done || state == cpu_Crashed) {
        fprintf(stderr, "simavr_uart: the firmware %s at cycle %llu\n", state == cpu_Done ? "stopped" : "crashed",
                (unsigned long long)avr->cycle);
        stop_flag = 1;
        rc = 1;
        break;
      }
    }
    if (stats_flag) {
      stats_flag = 0;
      print_stats();
    }
    if (fast) continue;
    double ahead = (double)avr->cycle / avr->frequency - (now_s() - wall0);
    if (ahead > AHEAD_MAX) {
      struct timespec t = {0, (long)(ahead * 1e9)};
      nanosleep(&t, NULL);
    } else if (-ahead > behind_max) {
      behind_max = -ahead;
    }
  }
  flush_output();
  print_stats();
  if (eeprom_file && !eeprom_save(eeprom_file)) rc = 2;
  return rc;
}
