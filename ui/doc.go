// Package ui is Parley's terminal user interface: a bubbletea client of the
// call and directory packages' events and commands. It holds no call logic.
//
// The interface itself arrives with its own issue; until then the headless
// subcommands of cmd/parley are the way to use Parley.
package ui
