package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
)

// conferenceMaxParticipants is how many calls a conference host takes:
// Skype's conferences had five parties, and the mix for each grows with
// the number of parties.
const conferenceMaxParticipants = 8

// conferenceStatsInterval is how often --events reports each
// participant's figures.
const conferenceStatsInterval = 5 * time.Second

// conferenceOptions are the flags of 'parley conference' (and of 'parley
// call' with --add).
type conferenceOptions struct {
	o           clientOptions
	m           mediaOptions
	duration    time.Duration
	ringTimeout time.Duration
	events      bool
}

func (c *conferenceOptions) register(fs *flag.FlagSet) {
	c.o.register(fs)
	c.m.register(fs)
	fs.DurationVar(&c.duration, "duration", 0, "end the conference this long after the first participant joins (0: when the last leaves, on 'hangup' or Ctrl-C)")
	fs.DurationVar(&c.ringTimeout, "ring-timeout", 30*time.Second, "give up on a participant who does not answer within this")
	fs.BoolVar(&c.events, "events", false, "print the conference's events as JSON lines on stdout")
}

func runConference(ctx context.Context, args []string) error {
	var c conferenceOptions
	fs := newFlagSet("conference", "conference NAME... [flags]", os.Stderr)
	c.register(fs)
	peers, err := parseFlags(fs, args)
	switch {
	case err != nil:
		return err
	case len(peers) == 0:
		fmt.Fprintln(fs.Output(), "want at least one NAME")
		fs.Usage()
		return errUsage
	}
	return hostConference(ctx, &c, peers, os.Stdin)
}

// extractAdds takes the --add NAME flags out of a 'parley call' command
// line: 'parley call bob --add carol' is 'parley conference bob carol'.
func extractAdds(args []string) (adds, rest []string) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			return adds, append(rest, args[i:]...)
		case (a == "--add" || a == "-add") && i+1 < len(args):
			adds = append(adds, args[i+1])
			i++
		case strings.HasPrefix(a, "--add=") || strings.HasPrefix(a, "-add="):
			adds = append(adds, a[strings.Index(a, "=")+1:])
		default:
			rest = append(rest, a)
		}
	}
	return adds, rest
}

// conferenceReport prints what happens in a conference: plain lines, or
// with --events JSON lines {"event", "time", "peer", …}.
type conferenceReport struct {
	events bool
	mu     sync.Mutex // lines from several goroutines stay whole
}

func (r *conferenceReport) event(kind, peer, text string, extra map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.events {
		fmt.Println(text)
		return
	}
	ev := map[string]any{"event": kind, "time": time.Now().UTC().Format(time.RFC3339Nano)}
	if peer != "" {
		ev["peer"] = peer
	}
	for k, v := range extra {
		ev[k] = v
	}
	line, _ := json.Marshal(ev) // maps of strings and numbers always marshal
	fmt.Println(string(line))
}

// hostConference dials peers into a conference hosted here, admits
// contacts who call in, and follows commands on stdin until it ends.
func hostConference(ctx context.Context, c *conferenceOptions, peers []string, stdin io.Reader) error {
	for _, p := range peers {
		if err := checkUsername("conference", p); err != nil {
			return err
		}
	}
	if c.duration < 0 || c.ringTimeout <= 0 {
		return badUsage("--duration must be 0 or more and --ring-timeout more than 0")
	}
	fc, err := c.o.resolve()
	if err != nil {
		return err
	}
	relay := &chatRelay{print: onEvent(c.events)}
	phone, client, err := startPhone(ctx, &c.o, call.PhoneConfig{
		Media:       c.m.config(fc),
		MaxCalls:    conferenceMaxParticipants,
		RingTimeout: c.ringTimeout,
		OnEvent:     relay.onEvent,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	defer phone.Close()

	log, _ := c.o.logger() // checked by resolve
	defer showChats(ctx, client, c.events, log)()
	h := newHosting(c, phone)
	if err := h.start(call.ConferenceConfig{Phone: phone, Media: c.m.config(fc)}, relay); err != nil {
		return err
	}
	for _, p := range peers {
		h.add(ctx, p)
	}
	cmdCtx, stopCommands := context.WithCancel(ctx)
	defer stopCommands()
	return h.run(ctx, readCommands(cmdCtx, stdin))
}

// hostFromCall turns from, a two-party call in progress, into a conference
// hosted here without a break ("add NAME" typed during 'parley call' or
// 'parley answer'), dials first into it, and runs it as hostConference
// does; the caller's commands go on to the conference, and relay, the
// phone's OnEvent, passes the participants' chat on from then.
func hostFromCall(ctx context.Context, c *conferenceOptions, phone *call.Phone, relay *chatRelay, from *call.Call, first string, media call.MediaConfig, commands <-chan string) error {
	phone.SetMaxCalls(conferenceMaxParticipants)
	h := newHosting(c, phone)
	if err := h.start(call.ConferenceConfig{Phone: phone, Media: media, From: from}, relay); err != nil {
		return fmt.Errorf("conference: %w", err)
	}
	h.add(ctx, first)
	return h.run(ctx, commands)
}

// hosting is a conference run from the command line.
type hosting struct {
	c       *conferenceOptions
	phone   *call.Phone
	conf    *call.Conference
	report  *conferenceReport
	changes chan call.ConferenceEvent
	joined  int
	// durationTimer fires --duration after the first participant joined.
	durationTimer <-chan time.Time
}

func newHosting(c *conferenceOptions, phone *call.Phone) *hosting {
	return &hosting{
		c: c, phone: phone, report: &conferenceReport{events: c.events},
		// The watchers never wait on the main loop: it has room for every
		// participant's join and leave.
		changes: make(chan call.ConferenceEvent, 2*conferenceMaxParticipants),
	}
}

// start starts the conference of cfg, whose OnEvent it sets, and has
// relay pass its chat on.
func (h *hosting) start(cfg call.ConferenceConfig, relay *chatRelay) error {
	cfg.OnEvent = func(ev call.ConferenceEvent) {
		if ev.Kind != "device" {
			h.changes <- ev // room is kept for every join and leave
			return
		}
		select {
		case h.changes <- ev:
		default: // the mixer's device must not wait; the log has it too
		}
	}
	conf, err := call.StartConference(cfg)
	if err != nil {
		return err
	}
	h.conf = conf
	relay.conf.Store(conf)
	h.report.event("conference-started", "", fmt.Sprintf("%s hosts a conference", h.c.o.user), nil)
	return nil
}

// chatRelay is the OnEvent of a phone that hosts, or may come to host, a
// conference: it prints the events as onEvent does and, once the
// conference runs, passes a participant's chat message on to the others.
type chatRelay struct {
	print func(call.Event)
	conf  atomic.Pointer[call.Conference]
}

func (r *chatRelay) onEvent(ev call.Event) {
	r.print(ev)
	if conf := r.conf.Load(); conf != nil && ev.Event == call.EventChat {
		conf.Relay(ev.Peer, ev.Message)
	}
}

func (h *hosting) add(ctx context.Context, peer string) {
	h.report.event("calling", peer, "calling "+peer, nil)
	if _, err := h.conf.Add(ctx, peer); err != nil {
		h.report.event("failed", peer, fmt.Sprintf("cannot add %s: %v", peer, err), map[string]any{"error": err.Error()})
	}
}

func (h *hosting) changed(ev call.ConferenceEvent) {
	switch ev.Kind {
	case "joined":
		h.joined++
		h.report.event("joined", ev.Peer, ev.Peer+" joined", nil)
		if h.joined == 1 && h.c.duration > 0 {
			h.durationTimer = time.After(h.c.duration)
		}
	case "left":
		r := ev.Result
		h.report.event("left", ev.Peer, fmt.Sprintf("%s left (%s)", ev.Peer, r.EndReason),
			map[string]any{"end_reason": r.EndReason, "duration_s": r.DurationS})
	case "device":
		h.report.event("device", "", ev.Message, map[string]any{"message": ev.Message})
	}
}

// run follows the conference and the commands ("add NAME", "remove
// NAME", "chat TEXT", "hangup") until it ends, then closes it and
// records every participant's stats.
func (h *hosting) run(ctx context.Context, commands <-chan string) error {
	conf := h.conf
	var statsTicks <-chan time.Time
	if h.c.events {
		ticker := time.NewTicker(conferenceStatsInterval)
		defer ticker.Stop()
		statsTicks = ticker.C
	}
loop:
	for {
		if len(conf.Participants()) == 0 {
			break // everybody left, or nobody could be called
		}
		select {
		case <-ctx.Done():
			break loop
		case <-h.durationTimer:
			break loop
		case <-conf.MixerDone():
			break loop
		case ev := <-h.changes:
			h.changed(ev)
		case <-statsTicks:
			for _, r := range conf.Snapshot() {
				h.report.event("stats", r.Peer, "", map[string]any{
					"path": r.Path, "rtt_ms": r.RTTMS, "packets_sent": r.PacketsSent, "packets_received": r.PacketsReceived,
					"packets_lost": r.PacketsLost, "jitter_ms": r.JitterMS, "jitter_buffer_delay_ms": r.JitterBufferDelayMS,
					"mix_underruns": r.Mix.Underruns,
				})
			}
		case in := <-h.phone.Incoming():
			h.report.event("calling-in", in.Peer(), in.Peer()+" calls in", nil)
			if err := conf.Admit(in); err != nil {
				h.report.event("failed", in.Peer(), fmt.Sprintf("cannot admit %s: %v", in.Peer(), err), map[string]any{"error": err.Error()})
			}
		case line := <-commands:
			verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
			arg = strings.TrimSpace(arg)
			switch {
			case verb == "add" && directory.ValidUsername(arg):
				h.add(ctx, arg)
			case verb == "remove" && arg != "":
				if err := conf.Remove(arg); err != nil {
					h.report.event("failed", arg, err.Error(), map[string]any{"error": err.Error()})
				}
			case verb == "chat" && arg != "":
				if err := conf.Chat(arg); err != nil {
					fmt.Fprintln(os.Stderr, "parley: chat:", err)
				}
			case verb == "hangup" || verb == "quit":
				break loop
			case verb == "":
			default:
				fmt.Fprintf(os.Stderr, "parley: %q: commands are add NAME, remove NAME, chat TEXT, hangup\n", line)
			}
		}
	}
	results, closeErr := conf.Close()
	for len(h.changes) > 0 {
		h.changed(<-h.changes)
	}
	for _, r := range results {
		if err := h.c.m.writeStats(r); err != nil {
			return err
		}
	}
	h.report.event("conference-ended", "", fmt.Sprintf("conference ended: %d joined", h.joined), map[string]any{"joined": h.joined})
	if closeErr != nil {
		return fmt.Errorf("conference: %w", closeErr)
	}
	if h.joined == 0 {
		return errors.New("conference: nobody joined")
	}
	return nil
}

// readCommands delivers stdin's lines until ctx ends. End of input is
// not a command (DESIGN §6): the channel then stays quiet. A read from a
// terminal cannot be interrupted, so the goroutine may outlive ctx until
// the next line or the process's end, but it delivers nothing more.
func readCommands(ctx context.Context, r io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return lines
}
