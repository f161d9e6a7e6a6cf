/*
 * The Arm MPS2 board with the AN385 image (Cortex-M3, 25 MHz), as QEMU's
 * mps2-an385 machine emulates it: the vector table, SysTick time, the
 * FPGA I/O LED register, the LAN9118 as lwIP's interface, semihosting for
 * the console and the exit status (picolibc), and the traps that make a
 * crash or a heap allocation end the run with a status of its own.
 *
 * Memory map (AN385 application note): code at 0, SRAM at 0x20000000, the
 * FPGA I/O block at 0x40028000 (LED register at offset 0: bit 0 = LED0),
 * the LAN9118 at 0x40200000 on interrupt 13.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include "board.h"
#include "lan9118.h"

const char board_name[] = "mps2-an385";
/* The address the run script's QEMU forwards to the host's broker. */
const char board_broker_host[] = "10.0.2.100";

#define CPU_HZ 25000000u

/* System control space (ARMv7-M architecture reference manual, B3). */
#define SYST_CSR (*(volatile uint32_t *)0xe000e010u)
#define SYST_RVR (*(volatile uint32_t *)0xe000e014u)
#define SYST_CVR (*(volatile uint32_t *)0xe000e018u)
#define SYST_CSR_ENABLE_TICKINT_CPU 0x7u
#define NVIC_ISER0 (*(volatile uint32_t *)0xe000e100u)
#define LAN9118_IRQ 13u

#define FPGAIO_LED (*(volatile uint32_t *)0x40028000u)
#define LED0 0x1u

/* QEMU's user network: the guest's address, mask and gateway. */
#define NET_ADDRESS "10.0.2.15"
#define NET_MASK "255.255.255.0"
#define NET_GATEWAY "10.0.2.2"

static volatile uint32_t ticks_ms;
static struct netif board_netif;
static bool net_started;

/* --- interrupts and traps -------------------------------------------------- */

static void systick_isr(void) { ticks_ms++; }

/* The frame itself waits for the main loop: this only wakes it. */
static void lan9118_isr(void) { lan9118_irq_clear(); }

static void fault_isr(void)
{
    static const char msg[] = "midge firmware: processor fault; stopping\n";
    fwrite(msg, 1, sizeof msg - 1, stderr);
    board_exit(BOARD_EXIT_FAULT);
}

static void default_isr(void)
{
    for (;;)
        continue;
}

/* Static memory only: a call to the C library's allocator, from midge,
 * lwIP or the C library itself, stops the board (linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc). */
static void heap_trap(const char *name) __attribute__((noreturn));
static void heap_trap(const char *name)
{
    fprintf(stderr, "midge firmware: %s called: no heap on this board; stopping\n", name);
    board_exit(BOARD_EXIT_HEAP);
}

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

void *__wrap_malloc(size_t size)
{
    (void)size;
    heap_trap("malloc");
}

void *__wrap_calloc(size_t n, size_t size)
{
    (void)n;
    (void)size;
    heap_trap("calloc");
}

void *__wrap_realloc(void *p, size_t size)
{
    (void)p;
    (void)size;
    heap_trap("realloc");
}

void board_lwip_assert(const char *msg, int line, const char *file)
{
    fprintf(stderr, "midge firmware: lwIP assertion \"%s\" at %s:%d; stopping\n", msg, file,
            line);
    board_exit(BOARD_EXIT_ASSERT);
}

extern uint8_t __stack[];
void _start(void);

typedef void (*vector_fn)(void);

/* The vector table at address 0, where picolibc's linker script puts
 * .data.init.enter: the initial stack pointer, the reset entry (picolibc's
 * semihosting crt0, which fetches the command line and calls main), the
 * faults, SysTick and the LAN9118's interrupt. */
__attribute__((section(".data.init.enter"), used, aligned(128)))
const vector_fn __interrupt_vector[16 + LAN9118_IRQ + 1] = {
    [0] = (vector_fn)(uintptr_t)__stack,
    [1] = _start,
    [2] = default_isr,       /* NMI */
    [3] = fault_isr,         /* HardFault */
    [4] = fault_isr,         /* MemManage */
    [5] = fault_isr,         /* BusFault */
    [6] = fault_isr,         /* UsageFault */
    [11] = default_isr,      /* SVCall */
    [12] = default_isr,      /* DebugMonitor */
    [14] = default_isr,      /* PendSV */
    [15] = systick_isr,
    [16 + LAN9118_IRQ] = lan9118_isr,
};

/* --- time ------------------------------------------------------------------ */

/* lwIP's clock (NO_SYS). */
uint32_t sys_now(void) { return ticks_ms; }

static uint32_t board_clock(void *ctx)
{
    (void)ctx;
    return ticks_ms;
}

/* The hook every wait of midge's client and transport calls: frames in,
 * lwIP's timers, then sleep until the next interrupt (the millisecond
 * tick, or a frame) when nothing came. */
static void board_idle(void *ctx, uint32_t ms)
{
    (void)ctx;
    bool got = net_started && lan9118_poll(&board_netif);
    if (net_started)
        sys_check_timeouts();
    if (!got && ms > 0)
        __asm__ volatile("wfi");
}

static const midge_platform board_platform_def = { board_clock, board_idle, NULL };

const midge_platform *board_platform(void) { return &board_platform_def; }

uint32_t board_random(void)
{
    static uint32_t x = 0x9e3779b9u;
    x ^= SYST_CVR ^ (ticks_ms << 16);
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

/* --- LED, console, exit ------------------------------------------------------ */

void board_led_set(bool on)
{
    uint32_t v = FPGAIO_LED;
    FPGAIO_LED = on ? v | LED0 : v & ~LED0;
}

void board_exit(int status)
{
    fflush(stdout);
    exit(status);
}

void board_init(void)
{
    SYST_RVR = CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE_TICKINT_CPU;
    /* Both LEDs are lit at reset: the device starts with LED0 off. */
    board_led_set(false);
}

/* --- network ------------------------------------------------------------------- */

bool board_net_start(const char **why)
{
    ip4_addr_t addr, mask, gw;

    if (!lan9118_present()) {
        *why = "no LAN9118 at 0x40200000 (QEMU: -nic user,model=lan9118)";
        return false;
    }
    lwip_init();
    ip4addr_aton(NET_ADDRESS, &addr);
    ip4addr_aton(NET_MASK, &mask);
    ip4addr_aton(NET_GATEWAY, &gw);
    if (netif_add(&board_netif, &addr, &mask, &gw, NULL, lan9118_netif_init, ethernet_input) ==
        NULL) {
        *why = "the LAN9118 did not start";
        return false;
    }
    netif_set_default(&board_netif);
    netif_set_up(&board_netif);
    netif_set_link_up(&board_netif);
    NVIC_ISER0 = 1u << LAN9118_IRQ;
    net_started = true;
    return true;
}

const char *board_net_address(void) { return NET_ADDRESS; }
