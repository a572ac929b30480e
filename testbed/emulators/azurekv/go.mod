module caracal-testbed/azurekv

go 1.22
