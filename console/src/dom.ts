// The one DOM helper every view uses: an element with attributes and children.

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, children: (Node | string)[] = []): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/// True while the user is typing in `panel`: periodic refreshes wait, so they never wipe an input.
export function typingIn(panel: HTMLElement): boolean {
  const active = document.activeElement;
  return active !== null && panel.contains(active) && (active.tagName === 'INPUT' || active.tagName === 'SELECT' || active.tagName === 'TEXTAREA');
}

/** A time as the reader's locale writes it; empty when there is none. */
export function when(text?: string): string {
  return text ? new Date(text).toLocaleString() : '';
}
