# shellcheck shell=bash
# PKI of the test bed (filled in with `up`).
