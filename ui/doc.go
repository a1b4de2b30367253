// Package ui is Parley's terminal user interface: a bubbletea model of
// contacts, presence, calls, chat, history and settings, drawn at 80×24 or
// larger.
//
// The model (Model) talks to the rest of Parley through Backend and Call,
// small interfaces over a directory client and a phone (Session is the real
// one), and holds no call logic. Update never blocks: whatever waits on the
// network or a sound device runs in a command, off the UI's goroutine, and
// comes back as a message. So tests drive the model with direct Update calls
// against a fake Backend, and the tmux tests in cmd/parley drive the binary.
//
// The call panel's estimated MOS is the ITU-T G.107 E-model (MOS).
package ui
