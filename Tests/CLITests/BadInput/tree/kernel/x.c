// SPDX-License-Identifier: GPL-2.0
/* dmemfuzz intake fixture: two functions whose loops end alike */

static int alpha(int *v, int n)
{
	int i, sum = 0;

	for (i = 0; i < n; i++) {
		if (v[i] < 0) {
			sum = 0;
			continue;
		}
		sum += v[i];
	}
	return sum;
}

static int beta(int *v, int n)
{
	int i, err = 0;

	for (i = 0; i < n; ++i) {
		if (v[i] < 0) {
			err = -1;
			break;
		}
	}
	return err;
}
