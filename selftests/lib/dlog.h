/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A dirty log as a VMM keeps one for VHOST_SET_LOG_BASE: one bit per
 * 4 KiB guest page, bit (gpa / 4096) % 8 of byte gpa / 4096 / 8.  The
 * tests' guest addresses are user addresses (identity tables), so the
 * bitmap spans gigabytes of address space: it is mapped without reserve
 * and only the pages the device touches ever exist.  A canary page
 * follows its last byte, to catch a write past the end.
 */
#ifndef DLOG_H
#define DLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhxg.h"

#define DLOG_PAGE	4096ULL

struct dlog {
	uint8_t *map;		/* the log: byte 0 covers guest pages 0..7 */
	size_t bytes;		/* what the covered guest range needs */
	uint8_t *canary;	/* the page right after map[bytes - 1] */
	uint8_t *mapping;	/* the whole mapping, for munmap */
	size_t mapping_len;
};

/* A set of guest page numbers, sorted and without duplicates. */
struct dlog_pages {
	uint64_t *pg;
	size_t n, cap;
};

/* A log for guest addresses below @end; 0 or -errno. */
int dlog_init(struct dlog *l, uint64_t end);
void dlog_fini(struct dlog *l);
/* Zero every bit (the VMM's clear after a sync). */
void dlog_clear(struct dlog *l);
/* The pages marked: scans only the log pages that exist.  0 or -errno. */
int dlog_marked(const struct dlog *l, struct dlog_pages *out);
/* Add the pages of [gpa, gpa + len) to a set. */
int dlog_pages_add(struct dlog_pages *s, uint64_t gpa, uint64_t len);
void dlog_pages_free(struct dlog_pages *s);
/*
 * Do the marked pages equal @want exactly?  Prints (ksft_print_msg())
 * what is missing and what is extra, as guest addresses.
 */
bool dlog_expect(const struct dlog *l, const struct dlog_pages *want,
		 const char *what);
/* Is the canary page after the log untouched? */
bool dlog_canary_intact(const struct dlog *l);

#define DLOG_USED	(1u << 0)	/* VHOST_VRING_F_LOG on every ring */
#define DLOG_ALL	(1u << 1)	/* VHOST_F_LOG_ALL acked */

/* One ring's addresses again, with or without the LOG flag. */
int dlog_set_ring(struct vhxg_vq *vq, bool log, uint64_t log_addr);
/*
 * Switch logging on in a running device, in QEMU's order: the log and
 * its eventfd @efd, LOG_ALL (@how), then rings 0 .. @nvqs - 1 with the
 * LOG flag (@how) at their own addresses.  The log starts out clear.
 */
int dlog_start(struct dlog *l, struct vhxg_dev *d, unsigned int nvqs,
	       unsigned int how, int efd);
/*
 * Add the used ring's pages a device without EVENT_IDX stores into for
 * entries [from, to): its flags and index, and those entries.
 */
int dlog_pages_add_used(struct dlog_pages *s, const struct vhxg_vq *vq,
			uint16_t from, uint16_t to);

#endif /* DLOG_H */
