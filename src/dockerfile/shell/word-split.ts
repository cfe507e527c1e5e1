/**
 * The word splitting of BuildKit's `ProcessWords`.
 * @module
 */
import { isSpace, REPLACEMENT, runeString } from './runes.js';

/**
 * Collects words for `ProcessWords`. A buffer holds the word in progress; a
 * space ends it when it is not empty. (BuildKit also tracks an "in word"
 * flag, but the buffer is only ever non-empty while that flag is set.)
 */
export class WordSplitter {
  readonly words: string[] = [];
  private buffer = '';

  /** What a nested BuildKit call does to the shared buffer: the word read so far is lost. */
  reset(): void {
    this.buffer = '';
  }

  addChar(rune: number): void {
    if (isSpace(rune)) {
      if (this.buffer.length !== 0) {
        this.words.push(this.buffer);
        this.buffer = '';
      }
    } else {
      this.buffer += runeString(rune);
    }
  }

  addRawChar(rune: number): void {
    this.buffer += runeString(rune);
  }

  /** Adds expanded text: white space in it splits, as in a shell. */
  addString(text: string): void {
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      if (cp >= 0xd800 && cp <= 0xdfff) {
        this.addChar(REPLACEMENT);
        i += 1;
      } else {
        this.addChar(cp);
        i += cp > 0xffff ? 2 : 1;
      }
    }
  }

  /** Adds quoted text: it never splits. */
  addRawString(text: string): void {
    this.buffer += text;
  }

  finish(): string[] {
    if (this.buffer.length > 0) {
      this.words.push(this.buffer);
      this.buffer = '';
    }
    return this.words;
  }
}
