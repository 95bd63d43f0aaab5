// SPDX-License-Identifier: GPL-2.0
/* dmemfuzz build-error fixture: what a test patch adds */
#include <linux/cgroup_dmem.h>

int vkms_dmem_charge(struct dmem_cgroup_region *r, u64 size, struct dmem_cgroup_pool_state **pool)
{
	return dmem_cgroup_try_charge(r, size, pool, NULL);
}
