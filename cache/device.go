package cache

import (
	"context"

	"github.com/gosling-ota/gosling/schema"
)

// Device implements schema.DeviceStore, from Redis when cached. LastSeen
// and LastAddr may be up to TTL old (TouchDevices does not invalidate).
// ENOTFOUND is not cached.
func (s *Store) Device(ctx context.Context, tenant, id string) (*schema.Device, error) {
	return read(ctx, s, deviceCodec, s.deviceKey(tenant, id), func(ctx context.Context) (*schema.Device, error) {
		return s.next.Device(ctx, tenant, id)
	})
}

// Devices implements schema.DeviceStore; it is not cached.
func (s *Store) Devices(ctx context.Context, f schema.DeviceFilter) ([]*schema.Device, int, error) {
	return s.next.Devices(ctx, f)
}

// CreateDevice implements schema.DeviceStore.
func (s *Store) CreateDevice(ctx context.Context, d *schema.Device) error {
	err := s.next.CreateDevice(ctx, d)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.deviceKey(d.Tenant, d.ID))
	}
	return err
}

// UpdateDevice implements schema.DeviceStore.
func (s *Store) UpdateDevice(ctx context.Context, tenant, id string, u schema.DeviceUpdate) (*schema.Device, error) {
	d, err := s.next.UpdateDevice(ctx, tenant, id, u)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.deviceKey(tenant, id))
	}
	return d, err
}

// UpdateDevices implements schema.DeviceStore: every returned device goes.
// On an error that may hide a commit the ids are unknown; the devices the
// target selects now are listed and invalidated (best effort: a device the
// update moved out of the target, say by changing its feed, is missed and
// stays stale up to TTL).
func (s *Store) UpdateDevices(ctx context.Context, tenant string, t schema.Target, u schema.DeviceUpdate) ([]string, error) {
	ids, err := s.next.UpdateDevices(ctx, tenant, t, u)
	if err != nil && !mayHaveChanged(err) {
		return ids, err
	}
	if err != nil {
		ids = nil
		for after := ""; ; {
			page, lerr := s.next.DeviceIDs(ctx, tenant, t, after, 10000)
			if lerr != nil {
				s.logger.Warn("list devices of failed bulk update", "tenant", tenant, "err", lerr)
				break
			}
			ids = append(ids, page...)
			if len(page) == 0 {
				break
			}
			after = page[len(page)-1]
		}
	}
	keys := make([]key, len(ids))
	for i, id := range ids {
		keys[i] = s.deviceKey(tenant, id)
	}
	s.invalidate(ctx, keys...)
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// EachDeviceID implements schema.DeviceStore; it is not cached.
func (s *Store) EachDeviceID(ctx context.Context, tenant string, t schema.Target, fn func(id string) error) error {
	return s.next.EachDeviceID(ctx, tenant, t, fn)
}

// DeviceIDs implements schema.DeviceStore; it is not cached.
func (s *Store) DeviceIDs(ctx context.Context, tenant string, t schema.Target, after string, limit int) ([]string, error) {
	return s.next.DeviceIDs(ctx, tenant, t, after, limit)
}

// DeleteDevice implements schema.DeviceStore. It invalidates the device and
// every action it had, which it lists before deleting (deletes are rare
// operator actions; the listing costs one query per 1000 actions).
func (s *Store) DeleteDevice(ctx context.Context, tenant, id string) error {
	keys := []key{s.deviceKey(tenant, id)}
	for off := 0; ; {
		page, total, err := s.next.Actions(ctx, schema.ActionFilter{Tenant: tenant, DeviceID: id, Offset: off, Limit: 1000})
		if err != nil {
			// Not fatal to the delete: those actions stay cached up to TTL.
			s.logger.Warn("list actions of deleted device", "tenant", tenant, "device", id, "err", err)
			break
		}
		for _, a := range page {
			keys = append(keys, s.actionKey(tenant, id, a.ID))
		}
		off += len(page)
		if len(page) == 0 || off >= total {
			break
		}
	}
	err := s.next.DeleteDevice(ctx, tenant, id)
	if mayHaveChanged(err) {
		s.invalidate(ctx, keys...)
	}
	return err
}

// SetAttributes implements schema.DeviceStore.
func (s *Store) SetAttributes(ctx context.Context, tenant, id string, mode schema.ConfigMode, data map[string]string) (*schema.Device, error) {
	d, err := s.next.SetAttributes(ctx, tenant, id, mode, data)
	if mayHaveChanged(err) {
		s.invalidate(ctx, s.deviceKey(tenant, id))
	}
	return d, err
}

// TouchDevices implements schema.DeviceStore. It does not invalidate
// unless StoreOptions.ExactLastSeen is set: last-seen times are not part of
// poll answers, and every polling device is touched every few seconds.
func (s *Store) TouchDevices(ctx context.Context, seen []schema.Seen) error {
	err := s.next.TouchDevices(ctx, seen)
	if s.opts.ExactLastSeen && mayHaveChanged(err) {
		keys := make([]key, 0, len(seen))
		for _, v := range seen {
			keys = append(keys, s.deviceKey(v.Tenant, v.DeviceID))
		}
		s.invalidate(ctx, keys...)
	}
	return err
}
