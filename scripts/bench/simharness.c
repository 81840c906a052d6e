/* simharness.c - run a benchmark firmware on a simulated ATmega328P (simavr).
 *
 * (Also any other simavr core with GPIORn at the same addresses, e.g. atmega2560.)
 * Protocol (firmware side, see run.py's FIRMWARE template):
 *   GPIOR0 <- any   start of one predict  (cycle counter and SP recorded)
 *   GPIOR1 <- label end of that predict    (cycle counter recorded, label kept)
 *   GPIOR2 <- any   all inputs done
 * The simulator is stepped one instruction at a time, so the lowest stack
 * pointer seen between a start and an end marker is the predict's exact peak
 * stack depth. Output, one line per predict: "<cycles> <label> <stack bytes>".
 * Build: cc -O2 simharness.c -lsimavr (libsimavr.so brings libelf).
 */
#include <stdio.h>
#include <stdlib.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_io.h>

#define GPIOR0 0x3E /* data-space addresses on the ATmega328P */
#define GPIOR1 0x4A
#define GPIOR2 0x4B

static avr_cycle_count_t t_start;
static unsigned sp_start, sp_min;
static int in_call, done;

static unsigned sp_of(avr_t* avr) { return avr->data[R_SPL] | (avr->data[R_SPH] << 8); }

static void on_start(avr_t* avr, avr_io_addr_t addr, uint8_t v, void* p) {
  (void)p;
  avr->data[addr] = v;
  t_start = avr->cycle;
  sp_start = sp_min = sp_of(avr);
  in_call = 1;
}

static void on_end(avr_t* avr, avr_io_addr_t addr, uint8_t v, void* p) {
  (void)p;
  avr->data[addr] = v;
  printf("%llu %u %u\n", (unsigned long long)(avr->cycle - t_start), v, sp_start - sp_min);
  in_call = 0;
}

static void on_done(avr_t* avr, avr_io_addr_t addr, uint8_t v, void* p) {
  (void)p;
  avr->data[addr] = v;
  done = 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s firmware.elf [mcu (atmega328p)] [cycle limit]\n", argv[0]);
    return 2;
  }
  static elf_firmware_t fw;
  if (elf_read_firmware(argv[1], &fw) != 0) {
    fprintf(stderr, "simharness: cannot read %s\n", argv[1]);
    return 2;
  }
  avr_t* avr = avr_make_mcu_by_name(argc > 2 ? argv[2] : "atmega328p");
  if (!avr) return 2;
  avr_init(avr);
  avr->frequency = 16000000;
  avr->log = 0;
  avr_load_firmware(avr, &fw);
  avr_register_io_write(avr, GPIOR0, on_start, NULL);
  avr_register_io_write(avr, GPIOR1, on_end, NULL);
  avr_register_io_write(avr, GPIOR2, on_done, NULL);
  unsigned long long limit = argc > 3 ? strtoull(argv[3], 0, 10) : 20000000000ULL;
  while (!done) {
    int state = avr_run(avr);
    if (in_call) {
      unsigned sp = sp_of(avr);
      if (sp < sp_min) sp_min = sp;
    }
    if (state == cpu_Done || state == cpu_Crashed) break;
    if (avr->cycle > limit) {
      fprintf(stderr, "simharness: cycle limit reached\n");
      return 3;
    }
  }
  return done ? 0 : 4;
}
