/*
 * resolver/upstream_h2.c - DNS over HTTPS/2 upstreams: the nghttp2 client
 * session on a TLS connection of upstream_tls.c (see upstream.h).
 *
 * One stream per query: POST of the query (ID 0) to the endpoint with
 * content-type application/dns-message; a 200 answer's body is the
 * reply.  At most the server's SETTINGS_MAX_CONCURRENT_STREAMS (and
 * UPS_H2_MAX_STREAMS) streams are open; the other queries wait on the
 * connection in arrival order.  After GOAWAY the connection takes no new
 * query: waiting ones and streams the server refused are given back
 * (UPS_RETRY) so the caller resends them on a new connection.
 * This file does no socket or TLS I/O: it reads from and writes to the
 * connection's buffers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/upstream.h"
#include "resolver/upstream_int.h"
#include "util/log.h"

#ifdef HAVE_NGHTTP2

#include <nghttp2/nghttp2.h>

#define UPS_H2_MAX_STREAMS	256	/* our own cap per connection */

static int
on_header_cb(nghttp2_session *s, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *user)
{
	struct ups_req *r;

	(void)flags;
	(void)user;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	r = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
	if (r == NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		int st = 0;
		size_t i;

		for (i = 0; i < valuelen && i < 3; i++)
			st = st * 10 + (value[i] - '0');
		r->status = st;
	}
	return 0;
}

static int
on_data_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id,
    const uint8_t *data, size_t len, void *user)
{
	struct ups_req *r = nghttp2_session_get_stream_user_data(s, stream_id);
	uint8_t *p;

	(void)flags;
	(void)user;
	if (r == NULL)
		return 0;
	if (r->ans_len + len > UPS_MAX_ANSWER) {
		r->status = -1;		/* too large: failed at close */
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id,
		    NGHTTP2_CANCEL);
		return 0;
	}
	p = realloc(r->ans, r->ans_len + len);
	if (p == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	(void)budget_reserve(&ups_http_mem, len);	/* req_free releases */
	r->ans = p;
	memcpy(r->ans + r->ans_len, data, len);
	r->ans_len += len;
	return 0;
}

static int
on_stream_close_cb(nghttp2_session *s, int32_t stream_id,
    uint32_t error_code, void *user)
{
	struct ups_conn *c = user;
	struct ups_req *r = nghttp2_session_get_stream_user_data(s, stream_id);

	if (c->h2_streams > 0)
		c->h2_streams--;
	if (r == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(s, stream_id, NULL);
	if (error_code == NGHTTP2_REFUSED_STREAM) {
		/* not processed by the server (GOAWAY): safe to resend */
		ups_req_finish(r, UPS_RETRY, NULL, 0);
		return 0;
	}
	if (error_code != NGHTTP2_NO_ERROR || r->status != 200 ||
	    r->ans_len < 12) {
		verbose(VERB_ALGO, "upstream %s: stream %d failed: HTTP %d, "
		    "h2 error %u, %zu bytes", c->addr.text, (int)stream_id,
		    r->status, error_code, r->ans_len);
		ups_req_finish(r, UPS_FAIL, NULL, 0);
		return 0;
	}
	c->answered = true;
	c->answers++;
	{
		uint8_t *ans = r->ans;
		size_t n = r->ans_len;

		/* keep it past the free of r, released when freed here */
		r->ans = NULL;
		r->ans_len = 0;
		ups_req_finish(r, UPS_OK, ans, n);
		free(ans);
		budget_release(&ups_http_mem, n);
	}
	return 0;
}

static int
on_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
	struct ups_conn *c = user;

	(void)s;
	if (frame->hd.type == NGHTTP2_GOAWAY) {
		verbose(VERB_ALGO, "upstream %s: GOAWAY (error %u)",
		    c->addr.text, frame->goaway.error_code);
		c->goaway = true;
		c->reusable = false;
	}
	return 0;
}

static ssize_t
body_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf,
    size_t len, uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct ups_req *r = nghttp2_session_get_stream_user_data(s, stream_id);
	size_t n;

	(void)src;
	(void)user;
	if (r == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	n = r->qlen - r->q_off;
	if (n > len)
		n = len;
	memcpy(buf, r->q + r->q_off, n);
	r->q_off += n;
	if (r->q_off == r->qlen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

int
ups_h2_start(struct ups_conn *c)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	nghttp2_settings_entry iv[2] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
	};
	int rc;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
	    on_data_chunk_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
	    on_stream_close_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs,
	    on_frame_recv_cb);
	rc = nghttp2_session_client_new(&s, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (rc != 0)
		return -1;
	c->h2 = s;
	if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 2) != 0)
		return -1;
	return 0;
}

void
ups_h2_free(struct ups_conn *c)
{
	if (c->h2 != NULL)
		nghttp2_session_del(c->h2);
	c->h2 = NULL;
}

static size_t
max_streams(struct ups_conn *c)
{
	uint32_t m = nghttp2_session_get_remote_settings(c->h2,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);

	return m < UPS_H2_MAX_STREAMS ? m : UPS_H2_MAX_STREAMS;
}

int
ups_h2_submit(struct ups_conn *c)
{
	struct ups_req *r, *next;
	char clen[16];

	if (c->h2 == NULL)
		return 0;
	for (r = c->reqs; r != NULL; r = next) {
		nghttp2_data_provider prd;
		int32_t id;

		next = r->next;
		if (r->sent)
			continue;
		if (c->goaway) {
			ups_req_finish(r, UPS_RETRY, NULL, 0);
			continue;
		}
		if (c->h2_streams >= max_streams(c))
			break;		/* the rest wait for a stream */
		snprintf(clen, sizeof(clen), "%zu", r->qlen);
		{
			nghttp2_nv nva[] = {
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, \
	strlen(v), NGHTTP2_NV_FLAG_NONE }
				NV(":method", "POST"),
				NV(":scheme", "https"),
				NV(":authority", c->authority),
				NV(":path", c->endpoint),
				NV("content-type", "application/dns-message"),
				NV("accept", "application/dns-message"),
				NV("content-length", clen),
#undef NV
			};

			prd.source.ptr = NULL;
			prd.read_callback = body_read_cb;
			id = nghttp2_submit_request(c->h2, NULL, nva,
			    sizeof(nva) / sizeof(nva[0]), &prd, r);
		}
		if (id < 0) {
			ups_req_finish(r, UPS_FAIL, NULL, 0);
			continue;
		}
		r->sent = true;
		r->stream_id = id;
		c->h2_streams++;
	}
	return 0;
}

int
ups_h2_recv(struct ups_conn *c, const uint8_t *p, size_t n)
{
	ssize_t rc;

	if (c->h2 == NULL)
		return -1;
	rc = nghttp2_session_mem_recv(c->h2, p, n);
	if (rc < 0 || (size_t)rc != n) {
		verbose(VERB_ALGO, "upstream %s: HTTP/2: %s", c->addr.text,
		    rc < 0 ? nghttp2_strerror((int)rc) : "short read");
		return -1;
	}
	/* streams closed, or GOAWAY: send or give back the waiting ones */
	return ups_h2_submit(c);
}

int
ups_h2_send(struct ups_conn *c)
{
	int i;

	if (c->h2 == NULL)
		return -1;
	for (i = 0; i < 1024 && c->out_len - c->out_off < UPS_MAX_OUTBUF;
	    i++) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (ups_conn_out_append(c, data, (size_t)n) < 0)
			return -1;
	}
	return 0;
}

void
ups_h2_cancel(struct ups_conn *c, struct ups_req *r)
{
	if (c->h2 == NULL || r->stream_id < 0)
		return;
	nghttp2_session_set_stream_user_data(c->h2, r->stream_id, NULL);
	nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->stream_id,
	    NGHTTP2_CANCEL);
}

bool
ups_h2_finished(struct ups_conn *c)
{
	if (c->h2 == NULL)
		return false;
	if (c->goaway && c->nreqs == 0)
		return true;
	return !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2) && c->nreqs == 0;
}

#else	/* !HAVE_NGHTTP2: config_check refuses forward-https-upstream */

int
ups_h2_start(struct ups_conn *c)
{
	(void)c;
	return -1;
}

void
ups_h2_free(struct ups_conn *c)
{
	(void)c;
}

int
ups_h2_submit(struct ups_conn *c)
{
	(void)c;
	return -1;
}

int
ups_h2_recv(struct ups_conn *c, const uint8_t *p, size_t n)
{
	(void)c;
	(void)p;
	(void)n;
	return -1;
}

int
ups_h2_send(struct ups_conn *c)
{
	(void)c;
	return -1;
}

void
ups_h2_cancel(struct ups_conn *c, struct ups_req *r)
{
	(void)c;
	(void)r;
}

bool
ups_h2_finished(struct ups_conn *c)
{
	(void)c;
	return true;
}

#endif
