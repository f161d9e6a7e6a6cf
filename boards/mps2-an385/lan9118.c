/*
 * LAN9118 driver (see lan9118.h). The controller moves frames through
 * FIFOs of 32-bit words: a frame is sent as two command words and its
 * bytes, and received as a status word (its length, CRC included) and
 * its bytes plus the CRC. Word order within the FIFO ports is
 * little-endian, as the processor's. One frame buffer serves both
 * directions: a received frame is copied into a pbuf before lwIP sees it,
 * and only then may lwIP transmit.
 *
 * Register map and bits: SMSC LAN9118 data sheet, section 5 (system
 * control and status registers) and 6.3 (MAC control and status).
 */
#include <stdint.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "netif/ethernet.h"

#include "lan9118.h"

#define LAN_BASE 0x40200000u

/* Direct registers (byte offsets). */
#define RX_DATA_FIFO 0x00
#define TX_DATA_FIFO 0x20
#define RX_STATUS_FIFO 0x40
#define TX_STATUS_FIFO 0x48
#define ID_REV 0x50
#define IRQ_CFG 0x54
#define INT_STS 0x58
#define INT_EN 0x5c
#define BYTE_TEST 0x64
#define FIFO_INT 0x68
#define TX_CFG 0x70
#define HW_CFG 0x74
#define RX_FIFO_INF 0x7c
#define TX_FIFO_INF 0x80
#define MAC_CSR_CMD 0xa4
#define MAC_CSR_DATA 0xa8

#define BYTE_TEST_VALUE 0x87654321u
#define ID_LAN9118 0x0118u
#define HW_CFG_SRST 0x1u
#define TX_CFG_TX_ON 0x2u
#define IRQ_CFG_EN_HIGH 0x111u   /* IRQ_EN, active high, push-pull */
#define INT_RSFL 0x8u            /* RX status FIFO above its level (0) */
#define CSR_BUSY 0x80000000u
#define CSR_READ 0x40000000u

/* MAC registers, reached through MAC_CSR_CMD/DATA. */
#define MAC_CR 1
#define MAC_ADDRH 2
#define MAC_ADDRL 3
#define MAC_CR_TXEN 0x8u
#define MAC_CR_RXEN 0x4u

/* TX command A: first and last segment of a one-buffer frame. */
#define TX_CMD_A_FIRST 0x2000u
#define TX_CMD_A_LAST 0x1000u
#define RX_STS_ERROR 0x8000u

#define FRAME_MAX 1536u /* an Ethernet frame with its CRC, in whole words */
#define RESET_SPINS 100000u

static uint32_t frame[FRAME_MAX / 4];

static inline uint32_t lan_read(uint32_t off)
{
    return *(volatile uint32_t *)(LAN_BASE + off);
}

static inline void lan_write(uint32_t off, uint32_t value)
{
    *(volatile uint32_t *)(LAN_BASE + off) = value;
}

static void mac_wait(void)
{
    for (uint32_t i = 0; i < RESET_SPINS && (lan_read(MAC_CSR_CMD) & CSR_BUSY); i++)
        continue;
}

static uint32_t mac_read(uint32_t reg)
{
    mac_wait();
    lan_write(MAC_CSR_CMD, CSR_BUSY | CSR_READ | reg);
    mac_wait();
    return lan_read(MAC_CSR_DATA);
}

static void mac_write(uint32_t reg, uint32_t value)
{
    mac_wait();
    lan_write(MAC_CSR_DATA, value);
    lan_write(MAC_CSR_CMD, CSR_BUSY | reg);
    mac_wait();
}

bool lan9118_present(void)
{
    return lan_read(BYTE_TEST) == BYTE_TEST_VALUE && (lan_read(ID_REV) >> 16) == ID_LAN9118;
}

void lan9118_irq_clear(void) { lan_write(INT_STS, INT_RSFL); }

/* One frame out: the whole pbuf chain through the frame buffer. */
static err_t lan9118_output(struct netif *netif, struct pbuf *p)
{
    (void)netif;
    uint32_t len = p->tot_len;
    uint32_t words = (len + 3u) / 4u;

    if (len > FRAME_MAX - 4u)
        return ERR_BUF;
    /* Room for the two command words and the data, else drop: lwIP's
     * TCP resends what is lost. */
    if ((lan_read(TX_FIFO_INF) & 0xffffu) < 4u * (words + 2u))
        return ERR_MEM;
    pbuf_copy_partial(p, frame, (u16_t)len, 0);
    lan_write(TX_DATA_FIFO, TX_CMD_A_FIRST | TX_CMD_A_LAST | len);
    lan_write(TX_DATA_FIFO, len); /* command B: tag 0, frame length */
    for (uint32_t i = 0; i < words; i++)
        lan_write(TX_DATA_FIFO, frame[i]);
    /* Statuses pile up otherwise: nothing here needs them. */
    while ((lan_read(TX_FIFO_INF) >> 16) & 0xffu)
        (void)lan_read(TX_STATUS_FIFO);
    return ERR_OK;
}

err_t lan9118_netif_init(struct netif *netif)
{
    lan_write(HW_CFG, HW_CFG_SRST);
    for (uint32_t i = 0; i < RESET_SPINS && (lan_read(HW_CFG) & HW_CFG_SRST); i++)
        continue;

    uint32_t lo = mac_read(MAC_ADDRL);
    uint32_t hi = mac_read(MAC_ADDRH);
    netif->hwaddr_len = ETH_HWADDR_LEN;
    for (int i = 0; i < 4; i++)
        netif->hwaddr[i] = (uint8_t)(lo >> (8 * i));
    netif->hwaddr[4] = (uint8_t)hi;
    netif->hwaddr[5] = (uint8_t)(hi >> 8);

    /* Our address and broadcast only (the reset value is promiscuous). */
    mac_write(MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN);
    lan_write(TX_CFG, TX_CFG_TX_ON);
    /* Any received frame raises the interrupt that wakes the processor. */
    lan_write(FIFO_INT, 0);
    lan_write(INT_STS, 0xffffffffu);
    lan_write(INT_EN, INT_RSFL);
    lan_write(IRQ_CFG, IRQ_CFG_EN_HIGH);

    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->mtu = 1500;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    netif->output = etharp_output;
    netif->linkoutput = lan9118_output;
    return ERR_OK;
}

bool lan9118_poll(struct netif *netif)
{
    bool got = false;

    while ((lan_read(RX_FIFO_INF) >> 16) & 0xffu) {
        uint32_t status = lan_read(RX_STATUS_FIFO);
        uint32_t size = (status >> 16) & 0x3fffu; /* the frame and its CRC */
        uint32_t words = (size + 3u) / 4u;
        bool keep = (status & RX_STS_ERROR) == 0 && size > 4u && size <= FRAME_MAX;

        /* The words must leave the FIFO whatever becomes of the frame. */
        for (uint32_t i = 0; i < words; i++) {
            uint32_t w = lan_read(RX_DATA_FIFO);
            if (keep)
                frame[i] = w;
        }
        if (!keep)
            continue;
        struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)(size - 4u), PBUF_POOL);
        if (p == NULL)
            continue; /* no pool buffer: dropped, as a busy wire would */
        pbuf_take(p, frame, (u16_t)(size - 4u));
        if (netif->input(p, netif) != ERR_OK)
            pbuf_free(p);
        got = true;
    }
    return got;
}
