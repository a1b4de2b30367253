package ui

import (
	"context"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-voip/parley/directory"
)

func (m *Model) contactAction(action directory.ContactAction, peer, message string) tea.Cmd {
	done := map[directory.ContactAction]string{
		directory.ContactAdd:     "asked " + peer + " to become a contact",
		directory.ContactAccept:  peer + " is now a contact",
		directory.ContactDecline: "declined " + peer + "'s request",
		directory.ContactRemove:  "removed " + peer,
		directory.ContactBlock:   "blocked " + peer,
	}[action]
	return m.request(done, true, func(ctx context.Context, b Backend) error {
		return b.Contact(ctx, action, peer, message)
	})
}

func (m *Model) setStatus(status, note string) tea.Cmd {
	m.status, m.note, m.statusSet = status, note, true
	return m.request("you are "+status, false, func(ctx context.Context, b Backend) error {
		return b.SetStatus(ctx, status, note)
	})
}

// visible returns the contacts the filter lets through, in display order.
func (m *Model) visible() []directory.Contact {
	if m.filter == "" {
		return m.contacts
	}
	f := strings.ToLower(m.filter)
	var out []directory.Contact
	for _, c := range m.contacts {
		if strings.Contains(c.User, f) || strings.Contains(strings.ToLower(c.Note), f) {
			out = append(out, c)
		}
	}
	return out
}

func (m *Model) selectedContact() (directory.Contact, bool) {
	for _, c := range m.visible() {
		if c.User == m.selected {
			return c, true
		}
	}
	return directory.Contact{}, false
}

func (m *Model) move(delta int) {
	list := m.visible()
	if len(list) == 0 {
		return
	}
	i := slices.IndexFunc(list, func(c directory.Contact) bool { return c.User == m.selected })
	i = min(max(i+delta, 0), len(list)-1)
	m.selected = list[i].User
}

// keepSelection selects the first visible contact when the selected one
// is filtered out or gone.
func (m *Model) keepSelection() {
	if _, ok := m.selectedContact(); ok {
		return
	}
	if list := m.visible(); len(list) > 0 {
		m.selected = list[0].User
	} else {
		m.selected = ""
	}
}

// contactRank orders the list: requests waiting for an answer, then
// contacts by presence, then the rest.
func contactRank(c directory.Contact) int {
	if c.State == directory.ContactIncoming {
		return 0
	}
	if c.State != directory.ContactAccepted {
		return 5
	}
	switch c.Status {
	case directory.StatusOnline:
		return 1
	case directory.StatusAway:
		return 2
	case directory.StatusBusy:
		return 3
	}
	return 4
}

func (m *Model) sortContacts() {
	slices.SortStableFunc(m.contacts, func(a, b directory.Contact) int {
		if ra, rb := contactRank(a), contactRank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.User, b.User)
	})
	m.keepSelection()
}

func (m *Model) updateContact(u directory.Contact) {
	i := slices.IndexFunc(m.contacts, func(c directory.Contact) bool { return c.User == u.User })
	switch {
	case u.State == directory.ContactNone && i >= 0:
		m.contacts = slices.Delete(m.contacts, i, i+1)
	case u.State == directory.ContactNone:
	case i >= 0:
		m.contacts[i] = u
	default:
		m.contacts = append(m.contacts, u)
	}
	if u.State == directory.ContactIncoming {
		m.setInfo(u.User + " wants to be your contact: a accepts, d declines")
	}
	m.sortContacts()
}

func (m *Model) updatePresence(p directory.Presence) {
	i := slices.IndexFunc(m.contacts, func(c directory.Contact) bool { return c.User == p.User })
	if i < 0 {
		return
	}
	was := m.contacts[i].Status
	m.contacts[i].Status, m.contacts[i].Note = printable(p.Status, false), printable(p.Note, false)
	if p.Status == directory.StatusOffline {
		m.contacts[i].LastSeen = m.now()
	}
	// Coming online is news, as in Skype; the rest shows in the list.
	if (was == directory.StatusOffline || was == "") && p.Status == directory.StatusOnline {
		m.notify(p.User + " is online")
	}
	m.sortContacts()
}
