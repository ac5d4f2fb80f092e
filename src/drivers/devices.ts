/**
 * QEMU PCI devices and the Windows hardware IDs they expose.
 *
 * Sources (docs/drivers.md, "QEMU devices and the IDs they expose"):
 * - A modern virtio-pci device has device ID 0x1040 + virtio device ID, revision 1
 *   (`hw/virtio/virtio-pci.c`: PCI_DEVICE_ID_VIRTIO_10_BASE + id, pci_config_set_revision(config, 1)),
 *   and QEMU's default subsystem 1af4:1100. virtio-sound-pci measured on QEMU 10.0.2: 1af4:1059,
 *   subsystem 1af4:1100, class 0401; "there is no transitional sound ID" (no DEV_1018).
 * - A transitional device keeps its legacy ID 0x1000..0x103F, revision 0 (VIRTIO_PCI_ABI_VERSION),
 *   and subsystem 1af4:<virtio device id>: "transitional ones on the root bus show legacy IDs
 *   (1005/1003 with subsystem 0004/0003)".
 * - Class codes below were read from QEMU 7.2 with `query-pci` on a q35 machine (this project,
 *   2026-11), except virtio-sound (QEMU 10.0.2) and vhost-vsock/vhost-user-fs (QEMU
 *   source: PCI_CLASS_COMMUNICATION_OTHER, PCI_CLASS_STORAGE_OTHER), which need host back-ends.
 * - Device IDs of the virtio device types: Linux include/uapi/linux/virtio_ids.h.
 * - QEMU makes a transitional device modern-only with `disable-legacy=on`, and by default
 *   (`disable-legacy=auto`) when it sits behind a PCI Express port; on the q35 root bus it stays
 *   transitional.
 */
import { pciDeviceIds, type PciIdentity } from './hwid.js';

export const VIRTIO_VENDOR = 0x1af4;
export const REDHAT_VENDOR = 0x1b36;
/** QEMU's default PCI subsystem (1af4:1100) for every device that does not set its own. */
export const QEMU_SUBSYSTEM = 0x1100;

export interface QemuDevice {
  /** `-device` name as QEMU spells it. */
  name: string;
  /** Other `-device` names with the same PCI identity. */
  aliases: string[];
  description: string;
  vendorId: number;
  /** Device ID when modern (virtio 1.0) or the only ID (non-virtio devices). */
  deviceId: number;
  /** Virtio device type (virtio_ids.h); undefined for non-virtio devices. */
  virtioId?: number;
  /** Legacy/transitional device ID, when QEMU can expose one. */
  legacyDeviceId?: number;
  /** True when QEMU only ever exposes the modern ID. */
  modernOnly: boolean;
  classCode: number;
  progIf: number;
  /** Revision when modern (or the only revision). */
  revision: number;
  minQemu?: string;
  note?: string;
}

interface Row {
  name: string;
  aliases?: string[];
  description: string;
  virtioId?: number;
  vendorId?: number;
  deviceId?: number;
  legacyDeviceId?: number;
  modernOnly: boolean;
  classCode: number;
  progIf?: number;
  revision?: number;
  minQemu?: string;
  note?: string;
}

const ROWS: Row[] = [
  { name: 'virtio-net-pci', description: 'virtio network', virtioId: 1, legacyDeviceId: 0x1000, modernOnly: false, classCode: 0x0200 },
  { name: 'virtio-blk-pci', description: 'virtio block', virtioId: 2, legacyDeviceId: 0x1001, modernOnly: false, classCode: 0x0100 },
  { name: 'virtio-serial-pci', description: 'virtio console/serial', virtioId: 3, legacyDeviceId: 0x1003, modernOnly: false, classCode: 0x0780 },
  { name: 'virtio-rng-pci', description: 'virtio entropy source', virtioId: 4, legacyDeviceId: 0x1005, modernOnly: false, classCode: 0x00ff },
  { name: 'virtio-balloon-pci', description: 'virtio memory balloon', virtioId: 5, legacyDeviceId: 0x1002, modernOnly: false, classCode: 0x00ff },
  { name: 'virtio-scsi-pci', description: 'virtio SCSI', virtioId: 8, legacyDeviceId: 0x1004, modernOnly: false, classCode: 0x0100 },
  { name: 'virtio-9p-pci', description: 'virtio 9p file system', virtioId: 9, legacyDeviceId: 0x1009, modernOnly: false, classCode: 0x0002 },
  { name: 'virtio-gpu-pci', description: 'virtio GPU', virtioId: 16, modernOnly: true, classCode: 0x0380 },
  { name: 'virtio-keyboard-pci', description: 'virtio input (keyboard)', virtioId: 18, modernOnly: true, classCode: 0x0900 },
  { name: 'virtio-mouse-pci', description: 'virtio input (mouse)', virtioId: 18, modernOnly: true, classCode: 0x0902 },
  {
    name: 'virtio-tablet-pci',
    aliases: ['virtio-input-host-pci', 'virtio-multitouch-pci'],
    description: 'virtio input (tablet, host evdev pass-through)',
    virtioId: 18,
    modernOnly: true,
    classCode: 0x0980,
  },
  {
    name: 'vhost-vsock-pci',
    description: 'virtio socket (vhost)',
    virtioId: 19,
    legacyDeviceId: 0x1012,
    modernOnly: true,
    classCode: 0x0780,
    note: 'QEMU forces virtio 1.0 on machine types >= 5.1, so the legacy DEV_1012 is not exposed',
  },
  { name: 'virtio-crypto-pci', description: 'virtio crypto', virtioId: 20, modernOnly: true, classCode: 0x00ff },
  { name: 'virtio-iommu-pci', description: 'virtio IOMMU', virtioId: 23, modernOnly: true, classCode: 0x00ff },
  { name: 'virtio-mem-pci', description: 'virtio memory device', virtioId: 24, modernOnly: true, classCode: 0x00ff },
  { name: 'virtio-sound-pci', description: 'virtio sound', virtioId: 25, modernOnly: true, classCode: 0x0401, minQemu: '8.2' },
  { name: 'vhost-user-fs-pci', description: 'virtio file system (virtiofsd)', virtioId: 26, modernOnly: true, classCode: 0x0180 },
  { name: 'pvpanic-pci', description: 'pvpanic (guest crash notification)', vendorId: REDHAT_VENDOR, deviceId: 0x0011, modernOnly: true, classCode: 0x0880, revision: 1 },
  // prog_if 0x02 (16550) is the `prog_if` property default in hw/char/serial-pci.c.
  { name: 'pci-serial', description: '16550 UART on PCI', vendorId: REDHAT_VENDOR, deviceId: 0x0002, modernOnly: true, classCode: 0x0700, progIf: 0x02, revision: 1 },
  { name: 'pci-serial-2x', description: '2x 16550 UART on PCI', vendorId: REDHAT_VENDOR, deviceId: 0x0003, modernOnly: true, classCode: 0x0700, progIf: 0x02, revision: 1 },
  { name: 'pci-serial-4x', description: '4x 16550 UART on PCI', vendorId: REDHAT_VENDOR, deviceId: 0x0004, modernOnly: true, classCode: 0x0700, progIf: 0x02, revision: 1 },
  // Revision 1: the virtio-win ivshmem INF binds REV_01.
  { name: 'ivshmem-plain', aliases: ['ivshmem-doorbell'], description: 'inter-VM shared memory', vendorId: VIRTIO_VENDOR, deviceId: 0x1110, modernOnly: true, classCode: 0x0500, revision: 1 },
];

export const QEMU_DEVICES: readonly QemuDevice[] = ROWS.map((r) => ({
  name: r.name,
  aliases: r.aliases ?? [],
  description: r.description,
  vendorId: r.vendorId ?? VIRTIO_VENDOR,
  deviceId: r.deviceId ?? 0x1040 + (r.virtioId ?? 0),
  ...(r.virtioId !== undefined ? { virtioId: r.virtioId } : {}),
  ...(r.legacyDeviceId !== undefined ? { legacyDeviceId: r.legacyDeviceId } : {}),
  modernOnly: r.modernOnly,
  classCode: r.classCode,
  progIf: r.progIf ?? 0,
  revision: r.revision ?? (r.virtioId !== undefined ? 1 : 0),
  ...(r.minQemu ? { minQemu: r.minQemu } : {}),
  ...(r.note ? { note: r.note } : {}),
}));

export function findQemuDevice(name: string): QemuDevice | undefined {
  const n = name.trim().toLowerCase();
  return QEMU_DEVICES.find((d) => d.name === n || d.aliases.includes(n));
}

export interface DeviceIdOptions {
  /** QEMU `disable-legacy=on` (or the device sits behind a PCIe port): expose the modern ID. */
  disableLegacy?: boolean;
}

export interface ExposedIds {
  device: string;
  transitional: boolean;
  identity: PciIdentity;
  hardwareIds: string[];
  compatibleIds: string[];
}

/** The PCI identity and Windows IDs a QEMU device presents. */
export function qemuDeviceIds(dev: QemuDevice, opts: DeviceIdOptions = {}): ExposedIds {
  const transitional = !dev.modernOnly && dev.legacyDeviceId !== undefined && !opts.disableLegacy;
  const identity: PciIdentity = transitional
    ? {
        vendorId: dev.vendorId,
        deviceId: dev.legacyDeviceId!,
        subsystemVendorId: VIRTIO_VENDOR,
        subsystemId: dev.virtioId!,
        revision: 0,
        classCode: dev.classCode,
        progIf: dev.progIf,
      }
    : {
        vendorId: dev.vendorId,
        deviceId: dev.deviceId,
        subsystemVendorId: VIRTIO_VENDOR,
        subsystemId: QEMU_SUBSYSTEM,
        revision: dev.revision,
        classCode: dev.classCode,
        progIf: dev.progIf,
      };
  return { device: dev.name, transitional, identity, ...pciDeviceIds(identity) };
}

/** Every identity QEMU can expose for a device: transitional (if any) and modern. */
export function allExposedIds(dev: QemuDevice): ExposedIds[] {
  const modern = qemuDeviceIds(dev, { disableLegacy: true });
  if (dev.modernOnly || dev.legacyDeviceId === undefined) return [modern];
  return [qemuDeviceIds(dev), modern];
}
