#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of vhx-vm-reboot.sh's power-button check: waits for the
# ACPI power button's input device, says "vhx-guest: button-ready NAME",
# and returns once the button is pressed (its first input event), saying
# "vhx-guest: power button pressed"; init then powers off, as a guest's
# init system does on the power key.
. /e2e/lib.sh

wait_for /dev/input/event0
name=$(cat /sys/class/input/event0/device/name 2> /dev/null)
echo "vhx-guest: button-ready ${name:-(no input device)}"
head -c 24 /dev/input/event0 > /dev/null && echo "vhx-guest: power button pressed"
