#!/usr/bin/env bash
# Print the root of a Terraform filesystem mirror on this machine that holds hashicorp/aws,
# or nothing. For offline machines: export TF_PROVIDER_MIRROR="$(scripts/find-provider-mirror.sh)"
# Looks for a real provider binary (plugin caches hold symlinks) outside .terraform working dirs.
set -euo pipefail
provider=$(find / \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -name .terraform \) -prune -o \
  -type f -path '*/registry.terraform.io/hashicorp/aws/*' -name 'terraform-provider-aws*' -print 2>/dev/null \
  | head -n 1 || true)
[ -n "$provider" ] && echo "${provider%%/registry.terraform.io/*}"
exit 0
