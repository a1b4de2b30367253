// Command parley is the Parley softphone: one binary for the client, the
// directory and (with its issue) the supernode. Subcommands wire Parley's
// packages together and hold no logic of their own.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// exitUsage is the exit code for a command line that is wrong; any other
// failure exits 1 with a one-line reason on stderr.
const exitUsage = 2

type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

func subcommands() []subcommand {
	return []subcommand{
		{"ui", "the terminal UI: contacts, presence, calls (what 'parley' alone runs)", runUI},
		{"call", "call NAME: dial a contact, talk, hang up", runCall},
		{"answer", "wait for calls and answer them", runAnswer},
		{"history", "history [--missed] [--json]: the calls you made, took and missed", runHistory},
		{"verify", "verify NAME [--fingerprint FP]: trust a contact's new identity key", runVerify},
		{"conference", "conference NAME...: host a call of several people, mixing for each", runConference},
		{"chat", "chat NAME TEXT: send a contact a message (kept for them if offline)", runChat},
		{"inbox", "inbox [--json]: the messages contacts sent you", runInbox},
		{"echo", "run the echo test service: play every caller's voice back", runEcho},
		{"directory", "run the presence and signalling directory", runDirectory},
		{"contacts", "contacts add|accept|decline|block|remove NAME, contacts list", runContacts},
		{"status", "status online|away|busy|invisible [--note TEXT]", runStatus},
		{"whoami", "print your username and key fingerprint", runWhoami},
		{"identity", "identity export|import FILE: move your key, passphrase-encrypted", runIdentity},
		{"supernode", "run a STUN/TURN relay for peers behind hard NATs", runSupernode},
		{"doctor", "check the directory, your NAT, relays and audio devices, in plain words", runDoctor},
		{"bench", "run a benchmark: 'parley bench' lists them", runBench},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C hangs up cleanly; a second one, should that hang,
	// kills the process as usual.
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := dispatch(ctx, os.Args[1:], os.Stderr)
	stop()
	var bad usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
	case errors.Is(err, errUsage):
		os.Exit(exitUsage)
	case errors.As(err, &bad):
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(exitUsage)
	default:
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

// usageError is a wrong command line found after flag parsing; it exits 2
// like the flag package's own complaints.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func badUsage(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// errUsage marks a wrong command line whose problem has already been
// printed with the usage text; errHelp, a request for that text.
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

func dispatch(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		usage(stderr)
		return nil
	}
	// No command (flags alone, or nothing): the terminal UI.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runUI(ctx, args)
	}
	for _, sc := range subcommands() {
		if sc.name == args[0] {
			return sc.run(ctx, args[1:])
		}
	}
	fmt.Fprintf(stderr, "parley: unknown command %q\n\n", args[0])
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: parley [flags]                  the terminal UI (as 'parley ui')\n       parley COMMAND [flags] [args]\n\ncommands:")
	for _, sc := range subcommands() {
		fmt.Fprintf(w, "  %-10s %s\n", sc.name, sc.summary)
	}
	fmt.Fprintln(w, "\nRun 'parley COMMAND --help' for a command's flags.")
}
