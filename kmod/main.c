// SPDX-License-Identifier: GPL-2.0
/*
 * vhx.ko: in-kernel virtio data plane.  Registers /dev/vhx-net (the
 * upstream vhost-net ABI) and /dev/vhx-blk.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>

#include "vhx.h"

static int __init vhx_init(void)
{
	int ret;

	ret = vhx_net_init();
	if (ret)
		return ret;
	ret = vhx_blk_init();
	if (ret)
		vhx_net_exit();
	return ret;
}

static void __exit vhx_exit(void)
{
	vhx_blk_exit();
	vhx_net_exit();
}

module_init(vhx_init);
module_exit(vhx_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vhx: in-kernel vhost-net and vhost-blk");
