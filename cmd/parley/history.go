package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory/identity"
)

func runHistory(_ context.Context, args []string) error {
	var (
		o      clientOptions
		asJSON bool
		missed bool
		limit  int
	)
	fs := newFlagSet("history", "history [flags]", os.Stderr)
	o.registerHome(fs)
	fs.BoolVar(&asJSON, "json", false, "print the records as JSON lines, as history.jsonl keeps them")
	fs.BoolVar(&missed, "missed", false, "only calls that rang here unanswered")
	fs.IntVar(&limit, "limit", 0, "only the last N calls (0: all)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if limit < 0 {
		return badUsage("--limit must be 0 or more")
	}
	if err := o.resolveHome(); err != nil {
		return err
	}
	recs, err := call.ReadHistory(o.home)
	if err != nil {
		return err
	}
	if missed {
		recs = missedCalls(recs)
	}
	if limit > 0 && len(recs) > limit {
		recs = recs[len(recs)-limit:]
	}
	for _, r := range recs {
		if asJSON {
			line, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("history: %w", err)
			}
			fmt.Println(string(line))
			continue
		}
		fmt.Println(historyLine(r))
	}
	if !asJSON && len(recs) == 0 {
		fmt.Println("no calls yet")
	}
	return nil
}

// historyLine is one call as 'parley history' shows it.
func historyLine(r call.HistoryRecord) string {
	arrow := map[call.Direction]string{call.Outgoing: "→", call.Incoming: "←"}[r.Direction]
	line := fmt.Sprintf("%s  %s %-16s %-18s %7s", r.Time.Local().Format("2006-01-02 15:04:05"), arrow, r.Peer, r.EndReason, formatDuration(r.DurationS))
	if r.Path != "" {
		line += "  " + r.Path
	}
	if r.SAS != "" {
		line += "  SAS " + r.SAS
	}
	return strings.TrimRight(line, " ")
}

func formatDuration(s float64) string {
	if s <= 0 {
		return "-"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

func missedCalls(recs []call.HistoryRecord) []call.HistoryRecord {
	var missed []call.HistoryRecord
	for _, r := range recs {
		if r.Missed() {
			missed = append(missed, r)
		}
	}
	return missed
}

// seenFile marks, in $PARLEY_HOME, up to when missed calls were reported.
const seenFile = "history.seen"

// reportMissed tells the user, as they come back, of the calls that rang
// unanswered since they last heard of missed calls: in words, or with
// --events as "missed" events.
func reportMissed(home string, events bool) { reportMissedTo(os.Stdout, home, events) }

func reportMissedTo(w io.Writer, home string, events bool) {
	recs, err := call.ReadHistory(home)
	if err != nil {
		return // the history's own commands say what is wrong with it
	}
	var since time.Time
	path := filepath.Join(home, seenFile)
	if data, err := os.ReadFile(path); err == nil {
		since, _ = time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return
	}
	var news []call.HistoryRecord
	for _, r := range missedCalls(recs) {
		if r.Time.After(since) {
			news = append(news, r)
		}
	}
	if len(news) == 0 {
		return
	}
	if !events {
		fmt.Fprintf(w, "%d missed call(s) since you were last here:\n", len(news))
	}
	for _, r := range news {
		if !events {
			fmt.Fprintf(w, "  %s from %s\n", r.Time.Local().Format("Mon 15:04"), r.Peer)
			continue
		}
		line, _ := json.Marshal(call.Event{Time: r.Time, Event: string(call.EndMissed), CallID: r.CallID, Peer: r.Peer,
			Direction: r.Direction, Status: call.Status{State: call.StateEnded}, EndReason: r.EndReason})
		fmt.Fprintln(w, string(line))
	}
	if err := os.WriteFile(path, []byte(news[len(news)-1].Time.Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "parley: these missed calls will be reported again:", err)
	}
}

func runVerify(_ context.Context, args []string) error {
	var (
		o           clientOptions
		fingerprint string
	)
	fs := newFlagSet("verify", "verify NAME [--fingerprint FP]", os.Stderr)
	o.registerHome(fs)
	fs.StringVar(&fingerprint, "fingerprint", "", "the fingerprint NAME read you from their 'parley whoami' (recommended)")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	if err := o.resolveHome(); err != nil {
		return err
	}
	peer := pos[0]
	pins := call.OpenPins(o.home)
	if fingerprint == "" {
		all, err := pins.All()
		if err != nil {
			return err
		}
		if pin, ok := all[peer]; ok && len(pin.Changed) > 0 {
			fmt.Printf("%s's new key has fingerprint %s: trusting it because you say so; next time check it with --fingerprint\n",
				peer, identity.Fingerprint(pin.Changed))
		}
	}
	key, err := pins.Verify(peer, fingerprint)
	if err != nil {
		return err
	}
	fmt.Printf("%s's key %s is now trusted; calls with %s work again\n", peer, identity.Fingerprint(key), peer)
	return nil
}
