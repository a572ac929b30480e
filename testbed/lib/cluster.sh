# shellcheck shell=bash
# Starting and stopping the test bed (work in progress: only env is implemented).
cmd_env() {
  printf 'export CARACAL_TESTBED_STATE=%q\n' "$TB_STATE"
  printf 'export CARACAL_HELM=%q\n' "$(bin_path helm)"
  printf 'export PATH=%q:"$PATH"\n' "$TB_STATE/bin"
}
cmd_up() { die "not implemented yet"; }
cmd_down() { die "not implemented yet"; }
cmd_status() { die "not implemented yet"; }
cmd_kubeconfig() { die "not implemented yet"; }
