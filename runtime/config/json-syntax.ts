// Where a text stops being JSON. JSON.parse says that it is not, but its
// messages carry no line and sometimes no position; a tree file's error must
// name the line to fix (config/tree.ts). A small scanner of RFC 8259 that
// stops at the first character that cannot continue a JSON value.

/** First position where `text` stops being JSON (RFC 8259), or undefined when it is JSON. */
export function locateJsonError(text: string): { at: number; problem: string } | undefined {
  let i = 0;
  function stop(problem: string): never {
    throw { at: i, problem };
  }
  const space = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) stop('unterminated string');
      const c = text[i]!;
      if (c === '"') return void i++;
      if (c < ' ') stop('control character in a string');
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else stop('bad escape in a string');
      } else i++;
    }
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) return void i++;
      for (;;) {
        if (c === '{') {
          space();
          if (text[i] !== '"') stop('expected a double-quoted key');
          string();
          space();
          if (text[i] !== ':') stop("expected ':' after the key");
          i++;
        }
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === close) return void i++;
        else stop(`expected ',' or '${close}'`);
      }
    }
    if (c === '"') return string();
    const literal = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
    literal.lastIndex = i;
    if (literal.exec(text) === null) stop(i >= text.length ? 'unexpected end of file' : 'unexpected character');
    i = literal.lastIndex;
  };
  try {
    value();
    space();
    if (i < text.length) stop('unexpected text after the JSON value');
    return undefined;
  } catch (e) {
    return e as { at: number; problem: string };
  }
}
