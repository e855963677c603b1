// A command in a <code> with a button that copies it (the dashboard itself never writes).
import { useEffect, useState } from 'preact/hooks';

const COPIED_FOR_MS = 1500;

export function CopyCode({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const timer = setTimeout(() => setCopied(false), COPIED_FOR_MS);
    return () => clearTimeout(timer);
  }, [copied]);
  const copy = (): void => {
    // Clipboard access needs a secure context (https or localhost); elsewhere the text stays selectable.
    if (navigator.clipboard === undefined) return;
    navigator.clipboard.writeText(text).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };
  return (
    <span class="copy-code">
      <code>{text}</code>
      <button type="button" class="copy" onClick={copy} aria-label={`Copy: ${text}`} title="Copy to the clipboard">
        {copied ? 'Copied' : 'Copy'}
      </button>
    </span>
  );
}
