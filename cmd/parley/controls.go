package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/directory"
)

// eventLines prints call events as JSON lines on stdout (--events).
type eventLines struct {
	mu sync.Mutex // lines from several calls stay whole
}

// onEvent is the phone's OnEvent: JSON lines with --events, else a line in
// words for what the user should know as it happens.
func onEvent(events bool) func(call.Event) {
	if !events {
		return sayEvent
	}
	var e eventLines
	return e.print
}

// sayEvent prints the call events a person at the terminal wants to see;
// the call's end is reported when the command finishes.
func sayEvent(ev call.Event) {
	var line string
	switch ev.Event {
	case string(call.StateActive):
		line = fmt.Sprintf("talking to %s; SAS %s (the same digits on both sides: nobody is in the middle)", ev.Peer, ev.SAS)
	case call.EventHold, call.EventResume, call.EventMute, call.EventUnmute:
		line = fmt.Sprintf("call with %s: %s", ev.Peer, map[string]string{
			call.EventHold: "on hold", call.EventResume: "resumed", call.EventMute: "muted", call.EventUnmute: "unmuted",
		}[ev.Event])
	case call.EventPeerHold, call.EventPeerResume, call.EventPeerMute, call.EventPeerUnmute:
		line = fmt.Sprintf("%s %s", ev.Peer, map[string]string{
			call.EventPeerHold: "put the call on hold", call.EventPeerResume: "took the call off hold",
			call.EventPeerMute: "muted their microphone", call.EventPeerUnmute: "unmuted their microphone",
		}[ev.Event])
	default:
		return
	}
	fmt.Println(line)
}

func (e *eventLines) print(ev call.Event) {
	line, err := json.Marshal(ev)
	if err != nil {
		return // call.Event always marshals
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Println(string(line))
}

// awaitCall waits for c to end, hanging it up if ctx ends first, and carries
// out the commands that come meanwhile (hold, resume, mute, unmute,
// hangup). It returns early, with the name, on "add NAME": the call is to
// become a conference.
func awaitCall(ctx context.Context, c *call.Call, commands <-chan string) (add string) {
	for {
		select {
		case <-c.Done():
			return ""
		case <-ctx.Done():
			c.Hangup()
			<-c.Done()
			return ""
		case line := <-commands:
			if strings.TrimSpace(line) == "" {
				continue
			}
			if name, ok := addCommand(line); ok {
				return name
			}
			if err := c.Do(line); err != nil {
				fmt.Fprintln(os.Stderr, "parley:", err)
			}
		}
	}
}

// addCommand reports whether line is "add NAME", which makes a call a
// conference hosted here, and returns the name.
func addCommand(line string) (string, bool) {
	verb, name, _ := strings.Cut(strings.TrimSpace(line), " ")
	name = strings.TrimSpace(name)
	return name, verb == "add" && directory.ValidUsername(name)
}

// answerCalls answers calls until calls of them have ended (0: until ctx
// ends), following the commands on stdin. Commands go to the call in
// progress; with call waiting, a call that comes meanwhile rings until
// "answer" (which holds the first) or "reject". "add NAME" makes the call
// in progress a conference hosted here, as host says, which runs until it
// ends; relay is the phone's OnEvent.
func answerCalls(ctx context.Context, phone *call.Phone, client *directory.Client, media call.MediaConfig, calls int, m *mediaOptions, host *conferenceOptions, relay *chatRelay, commands <-chan string) error {
	var (
		hosted   = map[*call.Call]bool{} // became a conference, which reported them
		failed   error
		answered int
		finished int
		live     []*call.Call // answered, not yet ended; the last is the current one
		waiting  *call.Call   // ringing while another call is in progress
	)
	ended := make(chan *call.Call)
	var watchers sync.WaitGroup
	defer watchers.Wait()
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	watch := func(c *call.Call) {
		watchers.Go(func() {
			select {
			case <-c.Done():
			case <-watchCtx.Done():
				return
			}
			select {
			case ended <- c:
			case <-watchCtx.Done():
			}
		})
	}
	answer := func(c *call.Call) {
		answered++
		fmt.Printf("answering %s\n", c.Peer())
		callMedia := media
		callMedia.Speaker = numberedRecording(media.Speaker, answered)
		c.AnswerWith(callMedia)
		live = append(live, c)
	}
	for calls == 0 || finished < calls {
		select {
		case <-ctx.Done():
			for _, c := range live {
				c.Hangup()
				<-c.Done()
				if err := reportCall(c, m); err != nil {
					failed = err
				}
			}
			return failed
		case <-client.Done():
			return fmt.Errorf("directory connection lost: %w", client.Err())
		case c := <-phone.Incoming():
			watch(c)
			if len(live) == 0 {
				answer(c)
				continue
			}
			waiting = c
			fmt.Printf("call waiting: %s ('answer' takes it and holds %s, 'reject' declines it)\n", c.Peer(), live[len(live)-1].Peer())
		case c := <-ended:
			if hosted[c] {
				continue
			}
			if c == waiting {
				waiting = nil
			}
			n := len(live)
			live = deleteCall(live, c)
			if len(live) == n { // it rang and was never answered
				if err := reportCall(c, m); err != nil {
					fmt.Fprintln(os.Stderr, "parley:", err)
				}
				continue
			}
			finished++
			if err := reportCall(c, m); err != nil {
				fmt.Fprintln(os.Stderr, "parley:", err)
				failed = err
			}
		case line := <-commands:
			switch line = strings.TrimSpace(line); {
			case line == "":
			case (line == "answer" || line == "reject") && waiting == nil:
				fmt.Fprintln(os.Stderr, "parley: no call is waiting")
			case line == "answer":
				answer(waiting)
				waiting = nil
			case line == "reject":
				waiting.Reject()
			case strings.HasPrefix(line, "add "):
				name, ok := addCommand(line)
				c := inProgress(live)
				if !ok || c == nil || len(live) > 1 || waiting != nil {
					fmt.Fprintf(os.Stderr, "parley: %s: 'add NAME' needs a call in progress and none other\n", line)
					continue
				}
				// The call goes on in the conference, which reports it.
				live = deleteCall(live, c)
				finished++
				hosted[c] = true
				if err := hostFromCall(ctx, host, phone, relay, c, name, media, commands); err != nil {
					fmt.Fprintln(os.Stderr, "parley:", err)
					failed = err
				}
			default:
				if line == "resume" {
					// Resuming takes back a held call, which holds the
					// other, and makes it the one commands go to.
					if held := lastHeld(live); held != nil {
						live = append(deleteCall(live, held), held)
					}
				}
				c := inProgress(live)
				if c == nil {
					fmt.Fprintf(os.Stderr, "parley: %s: no call in progress\n", line)
					continue
				}
				if err := c.Do(line); err != nil {
					fmt.Fprintln(os.Stderr, "parley:", err)
				}
			}
		}
	}
	return failed
}

// inProgress returns the call commands go to: the last of calls that has
// not ended (one may have ended before its watcher said so).
func inProgress(calls []*call.Call) *call.Call {
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Status().State != call.StateEnded {
			return calls[i]
		}
	}
	return nil
}

// lastHeld returns the last of calls that this side holds, if any.
func lastHeld(calls []*call.Call) *call.Call {
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Status().Hold {
			return calls[i]
		}
	}
	return nil
}

func deleteCall(calls []*call.Call, c *call.Call) []*call.Call {
	for i, x := range calls {
		if x == c {
			return append(calls[:i], calls[i+1:]...)
		}
	}
	return calls
}
