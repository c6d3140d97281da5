package cache

import (
	"context"

	"github.com/gosling-ota/gosling/schema"
)

// Software implements schema.SoftwareStore, from Redis when cached.
func (s *Store) Software(ctx context.Context, tenant string, id int64) (*schema.Software, error) {
	return read(ctx, s, softwareCodec, s.softwareKey(tenant, id), func(ctx context.Context) (*schema.Software, error) {
		return s.next.Software(ctx, tenant, id)
	})
}

// SoftwareList implements schema.SoftwareStore. Only a tenant's full list
// (Offset 0, Limit 0: what frontlines load for their catalog) is cached;
// pages and cross-tenant lists go to the next store.
func (s *Store) SoftwareList(ctx context.Context, f schema.SoftwareFilter) ([]*schema.Software, error) {
	if f.Tenant == "" || f.Offset != 0 || f.Limit != 0 {
		return s.next.SoftwareList(ctx, f)
	}
	return read(ctx, s, softwareListCodec, s.softwareListKey(f.Tenant), func(ctx context.Context) ([]*schema.Software, error) {
		return s.next.SoftwareList(ctx, f)
	})
}

// CreateSoftware implements schema.SoftwareStore.
func (s *Store) CreateSoftware(ctx context.Context, sw *schema.Software) error {
	err := s.next.CreateSoftware(ctx, sw)
	if mayHaveChanged(err) {
		keys := []key{s.softwareListKey(sw.Tenant)}
		if sw.ID != 0 {
			// An id can be reused after a delete on some stores.
			keys = append(keys, s.softwareKey(sw.Tenant, sw.ID))
		}
		s.invalidate(ctx, keys...)
	}
	return err
}

// DeleteSoftware implements schema.SoftwareStore.
func (s *Store) DeleteSoftware(ctx context.Context, tenant string, id int64) (bool, error) {
	shared, err := s.next.DeleteSoftware(ctx, tenant, id)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.softwareListKey(tenant), s.softwareKey(tenant, id))
	}
	return shared, err
}
