using System.Text;

namespace Rwkv7.Gen.Generator.Emit
{
    /// <summary>Writes C# source line by line with four-space indentation and '\n' line endings (deterministic).</summary>
    internal sealed class IndentedWriter
    {
        private readonly StringBuilder _sb = new StringBuilder();
        private int _depth;

        public void Line(string text = "")
        {
            if (text.Length > 0)
            {
                _sb.Append(' ', _depth * 4);
                _sb.Append(text);
            }

            _sb.Append('\n');
        }

        /// <summary>Writes <paramref name="header"/> then an opening brace, and indents.</summary>
        public void Open(string header)
        {
            Line(header);
            Line("{");
            _depth++;
        }

        /// <summary>Unindents and writes a closing brace (with an optional suffix such as ';').</summary>
        public void Close(string suffix = "")
        {
            _depth--;
            Line("}" + suffix);
        }

        /// <summary>Writes each line of an XML doc summary.</summary>
        public void Summary(params string[] lines)
        {
            Line("/// <summary>");
            foreach (string l in lines)
            {
                Line("/// " + l);
            }

            Line("/// </summary>");
        }

        public override string ToString() => _sb.ToString();
    }
}
