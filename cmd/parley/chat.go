package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/parley-voip/parley/directory"
)

// chatTimeout bounds sending a message or reading the inbox.
const chatTimeout = 10 * time.Second

func runChat(ctx context.Context, args []string) error {
	var o clientOptions
	fs := newFlagSet("chat", "chat NAME TEXT...", os.Stderr)
	o.register(fs)
	pos, err := parseFlags(fs, args)
	switch {
	case err != nil:
		return err
	case len(pos) < 2:
		fmt.Fprintln(fs.Output(), "want NAME and the message")
		fs.Usage()
		return errUsage
	}
	peer, text := pos[0], strings.Join(pos[1:], " ")
	if err := checkUsername("chat", peer); err != nil {
		return err
	}
	switch {
	case !directory.ValidChatText(text):
		return badUsage("chat: a message is 1-%d characters, no control characters but newline and tab", directory.MaxChatRunes)
	}
	return chatSession(ctx, &o, func(ctx context.Context, client *directory.Client) error {
		if err := client.SendChat(ctx, peer, text); err != nil {
			return err
		}
		fmt.Printf("sent to %s\n", peer)
		return nil
	})
}

// chatSession runs fn on a control session (beside the user's running
// phone), bounded by chatTimeout.
func chatSession(ctx context.Context, o *clientOptions, fn func(context.Context, *directory.Client) error) error {
	if _, err := o.resolve(); err != nil {
		return err
	}
	client, err := controlSession(ctx, o)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, chatTimeout)
	defer cancel()
	return fn(ctx, client)
}

func runInbox(ctx context.Context, args []string) error {
	var (
		o      clientOptions
		asJSON bool
		keep   bool
	)
	fs := newFlagSet("inbox", "inbox [--json] [--keep]", os.Stderr)
	o.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print the messages as a JSON array")
	fs.BoolVar(&keep, "keep", false, "leave the messages in the inbox (only the first page then)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	return chatSession(ctx, &o, func(ctx context.Context, client *directory.Client) error {
		// Text lines are printed as each page comes, before it is acknowledged.
		all := []directory.Chat{}
		show := func(chats []directory.Chat) {
			all = append(all, chats...)
			if !asJSON {
				for _, m := range chats {
					fmt.Println(chatLine(m))
				}
			}
		}
		var err error
		if keep {
			var chats []directory.Chat
			if chats, _, err = client.Inbox(ctx); err == nil {
				show(chats)
			}
		} else {
			err = client.TakeInbox(ctx, show)
		}
		// What was taken is printed even if a later page failed: it may
		// have been acknowledged already.
		switch {
		case asJSON && (err == nil || len(all) > 0):
			out, merr := json.Marshal(all)
			if merr != nil {
				return merr
			}
			fmt.Println(string(out))
		case err == nil && len(all) == 0:
			fmt.Println("no messages")
		}
		return err
	})
}

// chatLine is how a message reads in a terminal: its time, sender and
// text, further lines indented.
func chatLine(m directory.Chat) string {
	return fmt.Sprintf("%s %s: %s", m.Sent.Local().Format("2006-01-02 15:04"), m.From,
		strings.ReplaceAll(m.Text, "\n", "\n    "))
}

// chatEvent is a message from the directory as --events prints it,
// beside the call events: {"time", "event": "chat", "peer", "message",
// "via": "directory", "chat_id"}. Messages over a call's DataChannel are
// call events ("chat", "chat-sent") with the call's fields instead.
type chatEvent struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	Peer    string    `json:"peer"`
	Message string    `json:"message"`
	Via     string    `json:"via"`
	ChatID  string    `json:"chat_id"`
}

// showChats prints the messages kept for the user since the last time
// (the inbox) and then those the directory pushes while a phone runs
// ('parley call', 'answer', 'conference'), and acknowledges each once
// printed; the returned stop waits for it to end.
func showChats(ctx context.Context, client *directory.Client, events bool, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	show := func(m directory.Chat) {
		if events {
			line, _ := json.Marshal(chatEvent{Time: m.Sent, Event: "chat", Peer: m.From, Message: m.Text, Via: "directory", ChatID: m.ID})
			fmt.Println(string(line))
		} else {
			fmt.Println(chatLine(m))
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		// A message pushed while the inbox is read is in both: shown once.
		shown := make(map[string]bool)
		ictx, icancel := context.WithTimeout(ctx, chatTimeout)
		err := client.TakeInbox(ictx, func(chats []directory.Chat) {
			for _, m := range chats {
				show(m)
				shown[m.ID] = true
			}
		})
		icancel()
		if err != nil {
			log.Warn("chat messages stay in the inbox", "err", err)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-client.Done():
				return
			case m := <-client.Chats():
				if !shown[m.ID] {
					show(m)
				}
				actx, acancel := context.WithTimeout(ctx, chatTimeout)
				if err := client.AckChats(actx, m.ID); err != nil {
					log.Warn("chat stays in the inbox", "id", m.ID, "err", err)
				}
				acancel()
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}
