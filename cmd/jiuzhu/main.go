// Command jiuzhu is the social assistance platform: one binary for the server,
// the migrations, the synthetic province, the audit check and the benchmarks.
package main

import (
	"os"

	"jiuzhu/internal/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) }
