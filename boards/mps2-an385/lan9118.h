/*
 * The MPS2 board's SMSC LAN9118 Ethernet controller as an lwIP network
 * interface, polled: lan9118_poll() hands every received frame to lwIP
 * from the main loop. The controller's interrupt only wakes the processor
 * (board.c); no lwIP code runs in it.
 */
#ifndef MIDGE_BOARD_LAN9118_H
#define MIDGE_BOARD_LAN9118_H

#include <stdbool.h>

#include "lwip/err.h"
#include "lwip/netif.h"

/* The controller answers at its base address (ID and byte-order test). */
bool lan9118_present(void);

/* netif_add()'s init function: resets the controller, reads its MAC
 * address, enables transmit and receive and the receive interrupt. */
err_t lan9118_netif_init(struct netif *netif);

/* Hand every frame waiting in the receive FIFO to netif->input. True when
 * at least one came. */
bool lan9118_poll(struct netif *netif);

/* Acknowledge the controller's interrupt (its handler's only work). */
void lan9118_irq_clear(void);

#endif /* MIDGE_BOARD_LAN9118_H */
