/*
 * check_balance.c: the backend picker (src/balance.c): smooth weighted
 * round-robin sequences, down and tried servers left out, least_conn and
 * the slow-start ramp, all with `now` passed in.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"

#define ALL(n)	((n) == 64 ? ~0ULL : ((1ULL << (n)) - 1))

static int ew[BALANCE_MAX_SERVERS];

/* Effective weights from plain weights. */
static void
weights(int n, const int *w)
{
	int i;

	for (i = 0; i < n; i++)
		ew[i] = w != NULL ? w[i] * BALANCE_SCALE : BALANCE_SCALE;
}

/* The next len picks as a string of letters, 'a' for server 0. */
static void
sequence(struct balance *b, uint64_t mask, int len, char *out)
{
	int i, idx;

	for (i = 0; i < len; i++) {
		idx = balance_pick(b, mask, ew, NULL);
		out[i] = idx == -1 ? '-' : (char)('a' + idx);
	}
	out[len] = '\0';
}

START_TEST(rr_cycles_in_order)
{
	struct balance b;
	int i;

	weights(3, NULL);
	balance_init(&b, 3, BALANCE_RR);
	for (i = 0; i < 9; i++)
		ck_assert_int_eq(balance_pick(&b, ALL(3), ew, NULL), i % 3);
}
END_TEST

START_TEST(rr_even_split)
{
	struct balance b;
	int count[4] = { 0 }, i;

	weights(4, NULL);
	balance_init(&b, 4, BALANCE_RR);
	for (i = 0; i < 1000; i++)
		count[balance_pick(&b, ALL(4), ew, NULL)]++;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(count[i], 250);
}
END_TEST

START_TEST(swrr_5_1_1_interleaves)
{
	static const int w[] = { 5, 1, 1 };
	struct balance b;
	char seq[32];

	weights(3, w);
	balance_init(&b, 3, BALANCE_RR);
	/* nginx's smooth sequence: never five a in a row. */
	sequence(&b, ALL(3), 14, seq);
	ck_assert_str_eq(seq, "aabacaaaabacaa");
}
END_TEST

START_TEST(swrr_3_1_exact)
{
	static const int w[] = { 3, 1 };
	struct balance b;
	char seq[16];

	weights(2, w);
	balance_init(&b, 2, BALANCE_RR);
	sequence(&b, ALL(2), 8, seq);
	ck_assert_str_eq(seq, "aabaaaba");
}
END_TEST

START_TEST(swrr_share_matches_weights)
{
	static const int w[] = { 7, 3, 2, 1 };
	struct balance b;
	int count[4] = { 0 }, i;

	weights(4, w);
	balance_init(&b, 4, BALANCE_RR);
	for (i = 0; i < 13 * 50; i++)
		count[balance_pick(&b, ALL(4), ew, NULL)]++;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(count[i], w[i] * 50);
}
END_TEST

START_TEST(rr_skips_down)
{
	struct balance b;
	int i;

	weights(3, NULL);
	balance_init(&b, 3, BALANCE_RR);
	/* Server 1 down: 0, 2, 0, 2 ... */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(balance_pick(&b, 0x5, ew, NULL), (i % 2) * 2);
}
END_TEST

START_TEST(swrr_down_server_back)
{
	static const int w[] = { 2, 1 };
	struct balance b;
	char seq[16];

	weights(2, w);
	balance_init(&b, 2, BALANCE_RR);
	sequence(&b, 0x1, 4, seq);
	ck_assert_str_eq(seq, "aaaa");
	/* b was left out and kept its current weight: it is back at once. */
	sequence(&b, ALL(2), 6, seq);
	ck_assert_int_eq((int)(strchr(seq, 'b') - seq) <= 1, 1);
	ck_assert_int_eq((int)strlen(seq), 6);
}
END_TEST

START_TEST(rr_tried_excluded)
{
	struct balance b;

	weights(3, NULL);
	balance_init(&b, 3, BALANCE_RR);
	ck_assert_int_eq(balance_pick(&b, ALL(3), ew, NULL), 0);
	/* A retry of a request that tried 1 goes elsewhere, never to 1. */
	ck_assert_int_ne(balance_pick(&b, ALL(3) & ~0x2ULL, ew, NULL), 1);
	ck_assert_int_eq(balance_pick(&b, ALL(3) & ~0x5ULL, ew, NULL), 1);
}
END_TEST

START_TEST(rr_none_left)
{
	struct balance b;

	weights(2, NULL);
	balance_init(&b, 2, BALANCE_RR);
	ck_assert_int_eq(balance_pick(&b, 0, ew, NULL), -1);
	/* Bits beyond n never qualify. */
	ck_assert_int_eq(balance_pick(&b, 0xcULL, ew, NULL), -1);
	ew[0] = 0;
	ck_assert_int_eq(balance_pick(&b, 0x1, ew, NULL), -1);
}
END_TEST

START_TEST(rr_64_servers)
{
	struct balance b;
	int i;

	weights(64, NULL);
	balance_init(&b, 64, BALANCE_RR);
	for (i = 0; i < 128; i++)
		ck_assert_int_eq(balance_pick(&b, ALL(64), ew, NULL), i % 64);
	ck_assert_int_eq(balance_pick(&b, 1ULL << 63, ew, NULL), 63);
}
END_TEST

START_TEST(lc_fewest_in_flight)
{
	struct balance b;
	int load[3] = { 4, 1, 2 };

	weights(3, NULL);
	balance_init(&b, 3, BALANCE_LEAST_CONN);
	ck_assert_int_eq(balance_pick(&b, ALL(3), ew, load), 1);
	load[1] = 5;
	ck_assert_int_eq(balance_pick(&b, ALL(3), ew, load), 2);
	/* The least loaded server is left out when tried. */
	ck_assert_int_eq(balance_pick(&b, 0x3, ew, load), 0);
}
END_TEST

START_TEST(lc_relative_to_weight)
{
	static const int w[] = { 4, 1 };
	struct balance b;
	int load[2] = { 3, 1 };

	weights(2, w);
	balance_init(&b, 2, BALANCE_LEAST_CONN);
	/* 3/4 < 1/1. */
	ck_assert_int_eq(balance_pick(&b, ALL(2), ew, load), 0);
	load[0] = 5;	/* 5/4 > 1/1 */
	ck_assert_int_eq(balance_pick(&b, ALL(2), ew, load), 1);
}
END_TEST

START_TEST(lc_ties_round_robin)
{
	struct balance b;
	int load[3] = { 2, 2, 2 }, i;

	weights(3, NULL);
	balance_init(&b, 3, BALANCE_LEAST_CONN);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(balance_pick(&b, ALL(3), ew, load), i % 3);
}
END_TEST

START_TEST(slow_start_ramp)
{
	/* Weight 2, up at t=10000 ms, 10 s ramp. */
	ck_assert_int_eq(balance_weight(2, 10000, 10000, 10000), 1);
	ck_assert_int_eq(balance_weight(2, 10000, 12500, 10000),
	    2 * BALANCE_SCALE / 4);
	ck_assert_int_eq(balance_weight(2, 10000, 15000, 10000),
	    2 * BALANCE_SCALE / 2);
	ck_assert_int_eq(balance_weight(2, 10000, 20000, 10000),
	    2 * BALANCE_SCALE);
	ck_assert_int_eq(balance_weight(2, 10000, 90000, 10000),
	    2 * BALANCE_SCALE);
	/* Never below 1, never for a server up from the start or without
	 * a ramp. */
	ck_assert_int_eq(balance_weight(1, 10000, 10001, 3600000), 1);
	ck_assert_int_eq(balance_weight(3, 0, 5, 10000), 3 * BALANCE_SCALE);
	ck_assert_int_eq(balance_weight(3, 10000, 10001, 0),
	    3 * BALANCE_SCALE);
}
END_TEST

START_TEST(slow_start_share)
{
	struct balance b;
	int count[2] = { 0 }, i;

	/* Server 1 a quarter through its ramp gets about a fifth of the
	 * requests (25 against 100). */
	ew[0] = balance_weight(1, 0, 2500, 10000);
	ew[1] = balance_weight(1, 1, 2501, 10000);
	ck_assert_int_eq(ew[1], BALANCE_SCALE / 4);
	balance_init(&b, 2, BALANCE_RR);
	for (i = 0; i < 125; i++)
		count[balance_pick(&b, ALL(2), ew, NULL)]++;
	ck_assert_int_eq(count[0], 100);
	ck_assert_int_eq(count[1], 25);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("balance");
	TCase *tc = tcase_create("balance");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, rr_cycles_in_order);
	tcase_add_test(tc, rr_even_split);
	tcase_add_test(tc, swrr_5_1_1_interleaves);
	tcase_add_test(tc, swrr_3_1_exact);
	tcase_add_test(tc, swrr_share_matches_weights);
	tcase_add_test(tc, rr_skips_down);
	tcase_add_test(tc, swrr_down_server_back);
	tcase_add_test(tc, rr_tried_excluded);
	tcase_add_test(tc, rr_none_left);
	tcase_add_test(tc, rr_64_servers);
	tcase_add_test(tc, lc_fewest_in_flight);
	tcase_add_test(tc, lc_relative_to_weight);
	tcase_add_test(tc, lc_ties_round_robin);
	tcase_add_test(tc, slow_start_ramp);
	tcase_add_test(tc, slow_start_share);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
