package directory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
)

func nextChat(t *testing.T, c *directory.Client) directory.Chat {
	t.Helper()
	select {
	case m := <-c.Chats():
		return m
	case <-time.After(testTimeout):
		t.Fatalf("%s: no chat within %v", c.User(), testTimeout)
		return directory.Chat{}
	}
}

func inbox(t *testing.T, c *directory.Client) []directory.Chat {
	t.Helper()
	chats, more, err := c.Inbox(ctxTimeout(t))
	if err != nil || more {
		t.Fatalf("%s's inbox: more %v, %v", c.User(), more, err)
	}
	return chats
}

func texts(chats []directory.Chat) []string {
	var out []string
	for _, m := range chats {
		out = append(out, m.From+": "+m.Text)
	}
	return out
}

// TestChatStoredUntilDelivered: a message to a contact online is pushed at
// once, one to a contact offline waits for their inbox, and either stays
// until acknowledged.
func TestChatStoredUntilDelivered(t *testing.T) {
	d := startContactsDirectory(t)
	alice := d.login(t, "alice", directory.ClientConfig{})
	bob := d.login(t, "bob", directory.ClientConfig{})
	befriend(t, alice, bob)

	t.Run("online-contact-gets-a-push", func(t *testing.T) {
		before := time.Now()
		if err := alice.SendChat(ctxTimeout(t), "bob", "lunch at\tnoon?\nor later"); err != nil {
			t.Fatal(err)
		}
		m := nextChat(t, bob)
		if m.From != "alice" || m.To != "bob" || m.Text != "lunch at\tnoon?\nor later" || m.ID == "" || m.Sent.Before(before.Add(-time.Second)) {
			t.Errorf("bob got %+v", m)
		}
		// Not acknowledged yet: it is still in the inbox.
		if got := inbox(t, bob); len(got) != 1 || got[0].ID != m.ID {
			t.Errorf("bob's inbox before the ack: %q", texts(got))
		}
		if err := bob.AckChats(ctxTimeout(t), m.ID); err != nil {
			t.Fatal(err)
		}
		if got := inbox(t, bob); len(got) != 0 {
			t.Errorf("bob's inbox after the ack: %q", texts(got))
		}
	})
	t.Run("offline-contact-finds-it-at-login", func(t *testing.T) {
		bob.Close()
		for i := range 3 {
			if err := alice.SendChat(ctxTimeout(t), "bob", fmt.Sprint("message ", i)); err != nil {
				t.Fatal(err)
			}
		}
		control := d.login(t, "bob", directory.ClientConfig{Control: true})
		got := inbox(t, control)
		if want := "[alice: message 0 alice: message 1 alice: message 2]"; fmt.Sprint(texts(got)) != want {
			t.Fatalf("bob's inbox: %q, want %s", texts(got), want)
		}
		var ids []string
		for _, m := range got {
			ids = append(ids, m.ID)
		}
		if err := control.AckChats(ctxTimeout(t), ids...); err != nil {
			t.Fatal(err)
		}
		if got := inbox(t, control); len(got) != 0 {
			t.Errorf("bob's inbox after the ack: %q", texts(got))
		}
	})
}

func TestChatOnlyBetweenContacts(t *testing.T) {
	d := startContactsDirectory(t)
	alice := d.login(t, "alice", directory.ClientConfig{})
	eve := d.login(t, "eve", directory.ClientConfig{})
	mallory := d.login(t, "mallory", directory.ClientConfig{})
	befriend(t, alice, mallory)
	if err := alice.Contact(ctxTimeout(t), directory.ContactBlock, "mallory", ""); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		from *directory.Client
		to   string
		want error // nil: taken
	}{
		{name: "stranger", from: eve, to: "alice", want: directory.ErrNotContact},
		{name: "nobody-by-that-name", from: alice, to: "nobody", want: directory.ErrNoSuchUser},
		{name: "oneself", from: alice, to: "alice", want: directory.ErrProtocol},
		// A blocked user learns nothing: the message looks taken.
		{name: "blocked-sender", from: mallory, to: "alice"},
		// The blocker has no contact left to write to.
		{name: "blocker", from: alice, to: "mallory", want: directory.ErrNotContact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.from.SendChat(ctxTimeout(t), tt.to, "hello")
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("SendChat: %v, want %v", err, tt.want)
			}
		})
	}
	if got := inbox(t, alice); len(got) != 0 {
		t.Errorf("alice's inbox holds %q; want nothing from strangers or the blocked", texts(got))
	}
	select {
	case m := <-alice.Chats():
		t.Errorf("alice was pushed %+v", m)
	default:
	}
}

// TestInboxPages: an inbox larger than a frame comes in pages, oldest
// first, each fetched after the one before was acknowledged (TakeInbox,
// which waits out the rate limit), leaving the inbox empty.
func TestInboxPages(t *testing.T) {
	d := startContactsDirectory(t)
	alice := d.login(t, "alice", directory.ClientConfig{})
	bob := d.login(t, "bob", directory.ClientConfig{})
	befriend(t, alice, bob)
	const sent = 10
	for i := range sent {
		if err := alice.SendChat(ctxTimeout(t), "bob", fmt.Sprintf("%02d %s", i, strings.Repeat("é", directory.MaxChatRunes-3))); err != nil {
			t.Fatal(err)
		}
	}
	// With bob's request budget spent, TakeInbox waits for it to refill.
	for range 25 {
		bob.Contacts(ctxTimeout(t))
	}
	var (
		got   []string
		pages int
	)
	if err := bob.TakeInbox(ctxTimeout(t), func(chats []directory.Chat) {
		pages++
		for _, m := range chats {
			got = append(got, m.Text[:2])
		}
	}); err != nil {
		t.Fatal(err)
	}
	if pages < 2 {
		t.Errorf("%d messages of %d characters came in %d page(s), want 2 or more", sent, directory.MaxChatRunes, pages)
	}
	if left := inbox(t, bob); len(left) != 0 {
		t.Errorf("%d messages left in the inbox after TakeInbox", len(left))
	}
	if want := "[00 01 02 03 04 05 06 07 08 09]"; fmt.Sprint(got) != want {
		t.Errorf("bob read %v, want %s", got, want)
	}
}
