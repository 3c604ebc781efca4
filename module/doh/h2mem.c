/*
 * module/doh/h2mem.c - the allocator each server nghttp2 session gets
 * (doh_h2_mem_init), so that an idle DoH connection holds little
 * resident memory.
 *
 * Why: nghttp2 (1.52) allocates, when a session is created, an outbound
 * frame buffer of 16 KiB plus a frame header and a stream hash table of
 * 4 KiB, and keeps both for the session's life.  Taken from the malloc
 * heap those pages are nearly always resident (recycled from TLS
 * handshakes and record buffers), so they cost 20 KiB of RSS on every
 * idle connection.  Here the blocks of DOH_MEM_MAP_MIN bytes or more
 * that a session allocates while it is being created get their own
 * anonymous mappings instead: the kernel supplies a page when it is
 * first written, and doh_h2_mem_trim (when the connection is quiet)
 * gives back the frame buffer's pages (its contents are dead once
 * nghttp2 has nothing to send) and every page of the other blocks that
 * is all zeros (an empty hash table: dropped, it reads as zeros again,
 * so nothing changes for nghttp2).  Every other allocation goes to
 * malloc/calloc/realloc/free unchanged.
 *
 * Nothing here reads nghttp2's structures.  The frame buffer is the
 * first mapped block of 16 KiB or more; mapped blocks are told apart
 * from heap blocks by their addresses, kept in struct doh_h2_mem_rec.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "module/doh/h2mem.h"

#define FRAMEBUF_MIN	(16 * 1024)

static size_t
page_size(void)
{
	static size_t ps;

	if (ps == 0) {
		long v = sysconf(_SC_PAGESIZE);

		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

static struct doh_h2_mem_blk *
blk_of(struct doh_h2_mem_rec *rec, const void *p)
{
	int i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < DOH_MEM_BLOCKS; i++)
		if (rec->blk[i].p == p)
			return &rec->blk[i];
	return NULL;
}

static void *
mem_malloc(size_t size, void *ud)
{
	struct doh_h2_mem_rec *rec = ud;
	struct doh_h2_mem_blk *b = NULL;
	int i;

	if (rec->creating && size >= DOH_MEM_MAP_MIN && size <= SIZE_MAX / 2)
		for (i = 0; i < DOH_MEM_BLOCKS && b == NULL; i++)
			if (rec->blk[i].p == NULL)
				b = &rec->blk[i];
	if (b != NULL) {
		size_t ps = page_size(), len = (size + ps - 1) / ps * ps;
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m != MAP_FAILED) {
			b->p = m;
			b->len = len;
			b->size = size;
			b->framebuf = false;
			if (size >= FRAMEBUF_MIN && !rec->have_framebuf)
				b->framebuf = rec->have_framebuf = true;
			return m;
		}
		/* out of mappings (vm.max_map_count): the heap will do */
	}
	return malloc(size);
}

static void
mem_free(void *p, void *ud)
{
	struct doh_h2_mem_blk *b = blk_of(ud, p);

	if (b != NULL) {
		munmap(b->p, b->len);
		memset(b, 0, sizeof(*b));
		return;
	}
	free(p);
}

static void *
mem_calloc(size_t n, size_t size, void *ud)
{
	struct doh_h2_mem_rec *rec = ud;

	if (rec->creating && size != 0 && n <= SIZE_MAX / 2 / size &&
	    n * size >= DOH_MEM_MAP_MIN)
		return mem_malloc(n * size, ud);	/* mapped: zeros */
	return calloc(n, size);
}

static void *
mem_realloc(void *p, size_t size, void *ud)
{
	struct doh_h2_mem_blk *b;
	void *np;

	if (p == NULL)		/* how nghttp2 allocates the frame buffer */
		return mem_malloc(size, ud);
	b = blk_of(ud, p);
	if (b == NULL)
		return realloc(p, size);
	/* not done by nghttp2 1.52; kept correct all the same */
	np = malloc(size);
	if (np == NULL)
		return NULL;
	memcpy(np, p, b->size < size ? b->size : size);
	mem_free(p, ud);
	return np;
}

void
doh_h2_mem_init(nghttp2_mem *mem, struct doh_h2_mem_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	mem->mem_user_data = rec;
	mem->malloc = mem_malloc;
	mem->free = mem_free;
	mem->calloc = mem_calloc;
	mem->realloc = mem_realloc;
}

static bool
page_is_zero(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	size_t i;

	for (i = 0; i < len / sizeof(*w); i++)
		if (w[i] != 0)
			return false;
	return true;
}

size_t
doh_h2_mem_trim(struct doh_h2_mem_rec *rec)
{
	size_t ps = page_size(), off, dropped = 0;
	int i;

	for (i = 0; i < DOH_MEM_BLOCKS; i++) {
		struct doh_h2_mem_blk *b = &rec->blk[i];

		if (b->p == NULL)
			continue;
		if (b->framebuf) {
			(void)madvise(b->p, b->len, MADV_DONTNEED);
			dropped += b->len;
			continue;
		}
		for (off = 0; off < b->len; off += ps)
			if (page_is_zero((uint8_t *)b->p + off, ps) &&
			    madvise((uint8_t *)b->p + off, ps,
			    MADV_DONTNEED) == 0)
				dropped += ps;
	}
	return dropped;
}
