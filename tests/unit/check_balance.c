/*
 * check_balance.c: the backend picker (src/balance.c).
 */
#include <check.h>
#include <stdlib.h>

#include "balance.h"

#define ALL(n)	((n) == 64 ? ~0ULL : ((1ULL << (n)) - 1))

START_TEST(rr_cycles_in_order)
{
	struct balance b;
	int i;

	balance_init(&b, 3);
	for (i = 0; i < 9; i++)
		ck_assert_int_eq(balance_pick(&b, ALL(3), 0), i % 3);
}
END_TEST

START_TEST(rr_even_split)
{
	struct balance b;
	int count[4] = { 0 }, i;

	balance_init(&b, 4);
	for (i = 0; i < 1000; i++)
		count[balance_pick(&b, ALL(4), 0)]++;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(count[i], 250);
}
END_TEST

START_TEST(rr_skips_down)
{
	struct balance b;
	int i;

	balance_init(&b, 3);
	/* Server 1 down: 0, 2, 0, 2 ... */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(balance_pick(&b, 0x5, 0), (i % 2) * 2);
}
END_TEST

START_TEST(rr_tried_excluded)
{
	struct balance b;

	balance_init(&b, 3);
	ck_assert_int_eq(balance_pick(&b, ALL(3), 0), 0);
	/* A retry of a request that tried 1 goes to 2, never to 1. */
	ck_assert_int_eq(balance_pick(&b, ALL(3), 0x2), 2);
	ck_assert_int_eq(balance_pick(&b, ALL(3), 0x1 | 0x4), 1);
}
END_TEST

START_TEST(rr_none_left)
{
	struct balance b;

	balance_init(&b, 2);
	ck_assert_int_eq(balance_pick(&b, 0, 0), -1);
	ck_assert_int_eq(balance_pick(&b, ALL(2), ALL(2)), -1);
	ck_assert_int_eq(balance_pick(&b, 0x1, 0x1), -1);
}
END_TEST

START_TEST(rr_64_servers)
{
	struct balance b;
	int i;

	balance_init(&b, 64);
	for (i = 0; i < 128; i++)
		ck_assert_int_eq(balance_pick(&b, ALL(64), 0), i % 64);
	ck_assert_int_eq(balance_pick(&b, 1ULL << 63, 0), 63);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("balance");
	TCase *tc = tcase_create("round-robin");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, rr_cycles_in_order);
	tcase_add_test(tc, rr_even_split);
	tcase_add_test(tc, rr_skips_down);
	tcase_add_test(tc, rr_tried_excluded);
	tcase_add_test(tc, rr_none_left);
	tcase_add_test(tc, rr_64_servers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
