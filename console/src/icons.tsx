// Small inline icons (no icon font, nothing fetched). Decorative: the text next to them says it.
import type { JSX } from 'preact';

type IconProps = { size?: number; class?: string };

function svg(children: JSX.Element | JSX.Element[], { size = 16, class: cls }: IconProps, viewBox = '0 0 24 24') {
  return (
    <svg
      class={`icon ${cls ?? ''}`}
      width={size}
      height={size}
      viewBox={viewBox}
      fill="none"
      stroke="currentColor"
      stroke-width={2}
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {children}
    </svg>
  );
}

export const CheckIcon = (p: IconProps) => svg(<path d="M20 6 9 17l-5-5" />, p);
export const CheckCircleIcon = (p: IconProps) => svg([<circle cx="12" cy="12" r="10" />, <path d="m8 12 3 3 5-6" />], p);
export const XIcon = (p: IconProps) => svg([<path d="M18 6 6 18" />, <path d="m6 6 12 12" />], p);
export const XCircleIcon = (p: IconProps) => svg([<circle cx="12" cy="12" r="10" />, <path d="m15 9-6 6" />, <path d="m9 9 6 6" />], p);
export const AlertIcon = (p: IconProps) =>
  svg([<path d="M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z" />, <path d="M12 9v4" />, <path d="M12 17h.01" />], p);
export const InfoIcon = (p: IconProps) => svg([<circle cx="12" cy="12" r="10" />, <path d="M12 16v-4" />, <path d="M12 8h.01" />], p);
export const ClockIcon = (p: IconProps) => svg([<circle cx="12" cy="12" r="10" />, <path d="M12 6v6l4 2" />], p);
export const CircleIcon = (p: IconProps) => svg(<circle cx="12" cy="12" r="9" />, p);
export const MinusCircleIcon = (p: IconProps) => svg([<circle cx="12" cy="12" r="10" />, <path d="M8 12h8" />], p);
export const TrashIcon = (p: IconProps) => svg([<path d="M3 6h18" />, <path d="M8 6V4h8v2" />, <path d="M19 6l-1 14H6L5 6" />], p);
export const PlusIcon = (p: IconProps) => svg([<path d="M12 5v14" />, <path d="M5 12h14" />], p);
export const ExternalIcon = (p: IconProps) => svg([<path d="M15 3h6v6" />, <path d="M10 14 21 3" />, <path d="M18 13v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h6" />], p);
export const KeyIcon = (p: IconProps) => svg([<circle cx="7.5" cy="15.5" r="5.5" />, <path d="m21 2-9.6 9.6" />, <path d="m15.5 7.5 3 3L22 7l-3-3" />], p);
export const ArrowLeftIcon = (p: IconProps) => svg([<path d="M19 12H5" />, <path d="m12 19-7-7 7-7" />], p);
export const ServerIcon = (p: IconProps) =>
  svg([<rect x="2" y="3" width="20" height="7" rx="2" />, <rect x="2" y="14" width="20" height="7" rx="2" />, <path d="M6 6.5h.01" />, <path d="M6 17.5h.01" />], p);
export const SortIcon = ({ dir, ...p }: IconProps & { dir: 'asc' | 'desc' | null }) =>
  svg(dir === 'asc' ? <path d="m7 14 5-5 5 5" /> : dir === 'desc' ? <path d="m7 10 5 5 5-5" /> : [<path d="m8 9 4-4 4 4" />, <path d="m8 15 4 4 4-4" />], p);
export const Spinner = ({ size = 16, label }: { size?: number; label?: string }) => (
  <span class="spinner" style={{ width: `${size}px`, height: `${size}px` }} role={label ? 'status' : undefined} aria-label={label} aria-hidden={label ? undefined : 'true'} />
);
