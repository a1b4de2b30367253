package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// controlSession logs in as a control session: it manages contacts and
// status without taking over the user's running session (parley answer…).
func controlSession(ctx context.Context, o *clientOptions) (*directory.Client, error) {
	log, err := o.logger()
	if err != nil {
		return nil, err
	}
	o.session.Control = true
	return connect(ctx, o, log)
}

// contactActions maps 'parley contacts' subcommands to directory actions.
var contactActions = map[string]directory.ContactAction{
	"add":     directory.ContactAdd,
	"accept":  directory.ContactAccept,
	"decline": directory.ContactDecline,
	"block":   directory.ContactBlock,
	"remove":  directory.ContactRemove,
}

func runContacts(ctx context.Context, args []string) error {
	var (
		o       clientOptions
		message string
		asJSON  bool
	)
	fs := newFlagSet("contacts", "contacts add NAME [--message TEXT] | accept NAME | decline NAME | block NAME | remove NAME | list [--json]", os.Stderr)
	o.register(fs)
	fs.StringVar(&message, "message", "", "with add: a short message for the request (up to 140 characters)")
	fs.BoolVar(&asJSON, "json", false, "with list: print the list as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	verb := pos[0]
	action, isAction := contactActions[verb]
	switch {
	case verb == "list" && len(pos) == 1:
	case isAction && len(pos) == 2:
		if err := checkUsername("contacts "+verb, pos[1]); err != nil {
			return err
		}
		if message != "" && action != directory.ContactAdd {
			return badUsage("--message goes with add only")
		}
	default:
		fs.Usage()
		return errUsage
	}
	if _, err := o.resolve(); err != nil {
		return err
	}
	client, err := controlSession(ctx, &o)
	if err != nil {
		return err
	}
	defer client.Close()
	rctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if verb != "list" {
		if err := client.Contact(rctx, action, pos[1], message); err != nil {
			return err
		}
		fmt.Printf("%s: %s done\n", pos[1], verb)
		return nil
	}
	list, err := client.Contacts(rctx)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(list)
	}
	return printContacts(list)
}

func printContacts(list []directory.Contact) error {
	if len(list) == 0 {
		fmt.Println("no contacts yet: parley contacts add NAME")
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATE\tPRESENCE\tNOTE / MESSAGE")
	for _, c := range list {
		presence, text := c.Status, c.Note
		if !c.LastSeen.IsZero() {
			presence += ", last seen " + c.LastSeen.Local().Format(time.DateTime)
		}
		if c.State != directory.ContactAccepted {
			presence, text = "-", c.Message
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.User, c.State, presence, text)
	}
	return w.Flush()
}

func runStatus(ctx context.Context, args []string) error {
	var (
		o    clientOptions
		note string
	)
	fs := newFlagSet("status", "status online|away|busy|invisible [--note TEXT]", os.Stderr)
	o.register(fs)
	fs.StringVar(&note, "note", "", "a status note your contacts see (up to 140 characters; empty clears it)")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	switch pos[0] {
	case directory.StatusOnline, directory.StatusAway, directory.StatusBusy, directory.StatusInvisible:
	default:
		return badUsage("status %q: want online, away, busy or invisible", pos[0])
	}
	if _, err := o.resolve(); err != nil {
		return err
	}
	client, err := controlSession(ctx, &o)
	if err != nil {
		return err
	}
	defer client.Close()
	rctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := client.SetStatus(rctx, pos[0], note); err != nil {
		return err
	}
	fmt.Printf("%s is %s\n", o.user, pos[0])
	return nil
}

func runWhoami(ctx context.Context, args []string) error {
	var o clientOptions
	fs := newFlagSet("whoami", "whoami [flags]", os.Stderr)
	o.register(fs)
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if _, err := o.resolve(); err != nil {
		return err
	}
	id, err := identity.Load(o.home)
	if err != nil {
		return err
	}
	fmt.Printf("user         %s\nfingerprint  %s\n", firstNonEmpty(o.user, "(none: give --user NAME)"), id.Fingerprint())
	return nil
}

func runIdentity(ctx context.Context, args []string) error {
	var (
		o              clientOptions
		passphraseFile string
	)
	fs := newFlagSet("identity", "identity export FILE | import FILE [--passphrase-file FILE]", os.Stderr)
	o.register(fs)
	fs.StringVar(&passphraseFile, "passphrase-file", "", "read the passphrase from this file's first line (default: env PARLEY_PASSPHRASE, or ask)")
	pos, err := parseArgs(fs, args, 2)
	if err != nil {
		return err
	}
	verb, file := pos[0], pos[1]
	if verb != "export" && verb != "import" {
		return badUsage("identity %q: want export or import", verb)
	}
	if _, err := o.resolve(); err != nil {
		return err
	}
	passphrase, err := readPassphrase(passphraseFile, verb == "export")
	if err != nil {
		return err
	}
	if verb == "export" {
		id, err := identity.Load(o.home)
		if err != nil {
			return err
		}
		data, err := identity.Export(id, passphrase)
		if err != nil {
			return err
		}
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return fmt.Errorf("identity export: %w", err)
		}
		fmt.Printf("exported identity %s to %s\n", id.Fingerprint(), file)
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("identity import: %w", err)
	}
	id, err := identity.Import(data, passphrase)
	if err != nil {
		return err
	}
	if err := identity.Save(o.home, id); err != nil {
		return err
	}
	fmt.Printf("imported identity %s into %s\n", id.Fingerprint(), o.home)
	return nil
}

// readPassphrase reads the passphrase from file, else PARLEY_PASSPHRASE,
// else the terminal (asking twice when confirm is set).
func readPassphrase(file string, confirm bool) ([]byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return nonEmpty([]byte(strings.TrimSuffix(line, "\r")))
	}
	if env := os.Getenv("PARLEY_PASSPHRASE"); env != "" {
		return []byte(env), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return nil, fmt.Errorf("passphrase: give --passphrase-file, set PARLEY_PASSPHRASE or type it: %w", err)
		}
		return nonEmpty([]byte(strings.TrimRight(line, "\r\n")))
	}
	fmt.Fprint(os.Stderr, "passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	if confirm {
		fmt.Fprint(os.Stderr, "again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		if string(again) != string(p) {
			return nil, errors.New("the passphrases differ")
		}
	}
	return nonEmpty(p)
}

func nonEmpty(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return p, nil
}
