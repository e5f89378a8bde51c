/* SPDX-License-Identifier: GPL-2.0 */
/* vhx's writable module parameters, /sys/module/vhx/parameters/NAME. */
#ifndef MODPARAM_H
#define MODPARAM_H

/* 0 or -errno. */
int vhx_param_get(const char *name, unsigned long *val);
int vhx_param_set(const char *name, unsigned long val);

#endif /* MODPARAM_H */
