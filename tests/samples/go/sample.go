package store

import (
	"errors"
	"fmt"
	"strings"
)

const MaxItems = 100

var ErrFull = errors.New("store is full")

// Item is one stored thing.
type Item struct {
	ID   string
	Name string
}

type Repository interface {
	Get(id string) (Item, bool)
	Put(item Item) error
}

type MemoryStore struct {
	items map[string]Item
}

func NewMemoryStore() *MemoryStore {
	return &MemoryStore{items: make(map[string]Item)}
}

func (s *MemoryStore) Get(id string) (Item, bool) {
	item, ok := s.items[normalize(id)]
	return item, ok
}

func (s *MemoryStore) Put(item Item) error {
	if len(s.items) >= MaxItems {
		return ErrFull
	}
	s.items[normalize(item.ID)] = item
	return nil
}

func normalize(id string) string {
	return strings.ToLower(strings.TrimSpace(id))
}

func Describe(r Repository, id string) string {
	if item, ok := r.Get(id); ok {
		return fmt.Sprintf("%s: %s", item.ID, item.Name)
	}
	return "missing"
}

func sigDemo(a int /* sigcomment */, b int) int { // sigcomment
	return a + b
}
