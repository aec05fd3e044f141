/*
 * fuzz_store_codec.c: libFuzzer target for the Redis store's value and
 * record decoders (src/store_codec.c), which read what any writer put in
 * Redis.
 *
 * The input is decoded as a variant, with the primary key the value
 * itself claims when it has one (so the fuzzer gets past the key check),
 * and as a record. Whatever decodes must encode back to the very same
 * bytes; anything else is refused without a crash or an overread.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_codec.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_obj(const uint8_t *data, size_t size)
{
	struct store_obj *obj;
	const uint8_t *key = NULL;
	uint8_t *again;
	size_t klen = 0;
	int err;

	if (size >= STORE_CODEC_HDR) {
		klen = (size_t)data[96] | (size_t)data[97] << 8 |
		    (size_t)data[98] << 16 | (size_t)data[99] << 24;
		if (klen <= size - STORE_CODEC_HDR)
			key = data + STORE_CODEC_HDR;
		else
			klen = 0;
	}
	obj = store_codec_decode(data, size, key, klen, UINT64_MAX, &err);
	if (obj == NULL) {
		if (err == STORE_CODEC_OK)
			abort();
		return;
	}
	if (err != STORE_CODEC_OK || obj->wire_len > obj->head_len ||
	    store_codec_size(obj) != size || (again = malloc(size)) == NULL)
		abort();
	if (store_codec_encode(obj, again, size) != size ||
	    memcmp(again, data, size) != 0)
		abort();
	free(again);
	store_obj_unref(obj);
}

static void
check_rec(const uint8_t *data, size_t size)
{
	struct store_codec_rec r;
	uint8_t again[STORE_CODEC_REC_MAX];
	uint64_t ev;

	if (store_codec_rec_decode(&r, data, size) == -1) {
		if (r.n != 0)
			abort();
		return;
	}
	if (store_codec_rec_encode(&r, again, sizeof(again)) != size ||
	    memcmp(again, data, size) != 0)
		abort();
	store_codec_rec_add(&r, store_codec_hash(data, size), &ev);
	if (store_codec_rec_encode(&r, again, sizeof(again)) == 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_obj(data, size);
	check_rec(data, size);
	return (0);
}
