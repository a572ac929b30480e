// Command external-secrets builds the real External Secrets Operator
// controller (github.com/external-secrets/external-secrets v0.16.2) for the
// caracal-deploy test bed. It is exactly upstream's main.go: the root command
// runs the controller manager; the `webhook` and `certcontroller`
// subcommands exist but the test bed never starts them.
package main

import (
	"github.com/external-secrets/external-secrets/cmd/controller"
)

func main() {
	controller.Execute()
}
